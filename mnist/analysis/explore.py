"""Looking at a dataset and at a model's answers: mosaics, per-class statistics, printouts.

The Dataset page and the Train page show these; they are plain functions of uint8 images and
labels (or of a model's probabilities), so they are cheap to cache and easy to test. Nothing
here copies the whole dataset to float: statistics are accumulated in integer or float64 sums.
(A model's scores on a set: `mnist.training.metrics.score`.)
"""

from __future__ import annotations

import numpy as np

from mnist.constants import N_CLASSES, PIXELS, SIDE
from mnist.data.dataset import Dataset

GRID_MODES = ("random", "by class", "by index")


def pick_indices(ds: Dataset, mode: str = "random", n: int = 100, seed: int = 0,
                 start: int = 0) -> np.ndarray:
    """`n` digit indices to show in a grid.

    - "random": a sample without replacement drawn from `seed`;
    - "by class": row r holds the first n/10 digits of class r (the grid reads 0..9 downwards);
      classes with fewer digits leave their row short, filled by -1;
    - "by index": `start, start + 1, ...` (clipped to the dataset).
    -1 marks an empty cell.
    """
    if mode not in GRID_MODES:
        raise ValueError(f"unknown grid mode {mode!r} (known: {', '.join(GRID_MODES)})")
    N = len(ds)
    if mode == "random":
        rng = np.random.default_rng(seed)
        k = min(n, N)
        idx = np.sort(rng.choice(N, size=k, replace=False)) if k else np.empty(0, np.int64)
    elif mode == "by index":
        start = int(np.clip(start, 0, max(N - 1, 0)))
        idx = np.arange(start, min(start + n, N))
    else:
        if not ds.has_labels:
            raise ValueError(f"{ds.name} has no labels: it cannot be shown by class")
        per_row = max(1, n // N_CLASSES)
        rows = []
        for c in range(N_CLASSES):
            members = np.flatnonzero(ds.labels == c)
            if len(members) > per_row:  # an even spread through the set, not just its start
                rng = np.random.default_rng([seed, c])
                members = np.sort(rng.choice(members, size=per_row, replace=False))
            row = np.full(per_row, -1, dtype=np.int64)
            row[:len(members)] = members
            rows.append(row)
        idx = np.concatenate(rows)
    out = np.full(n, -1, dtype=np.int64)
    out[:len(idx)] = idx[:n]
    return out


def mosaic(images, cols: int = 10, pad: int = 2, fill=0) -> np.ndarray:
    """Tile n images (n, h, w) (or digits as rows, (n, 784)) into ONE
    (rows * (h + pad) + pad, cols * (w + pad) + pad) array, row-major, `fill` between and
    around them and in the empty slots of the last row; `cols` shrinks to n if n is smaller.

    Image k sits at row k // cols, column k % cols, its top-left pixel at
    (pad + r * (h + pad), pad + c * (w + pad)). A NaN `fill` (transparent in a Plotly heatmap)
    makes an integer mosaic float32.
    """
    images = np.asarray(images)
    if images.ndim == 2 and images.shape[1] == PIXELS:
        images = images.reshape(-1, SIDE, SIDE)
    if images.ndim != 3:
        raise ValueError(f"expected images of shape (n, h, w), got {images.shape}")
    n, h, w = images.shape
    cols = max(1, min(int(cols), max(n, 1)))
    rows = max(1, -(-n // cols))
    dtype = images.dtype
    if isinstance(fill, float) and np.isnan(fill) and dtype.kind != "f":
        dtype = np.dtype(np.float32)
    out = np.full((pad + rows * (h + pad), pad + cols * (w + pad)), fill, dtype=dtype)
    for k in range(n):
        r, c = divmod(k, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y:y + h, x:x + w] = images[k]
    return out


def grid(ds: Dataset, indices: np.ndarray, cols: int = 10, pad: int = 2):
    """The mosaic of `ds` at `indices` (-1 = blank cell) and the labels (-1 if none/blank)."""
    indices = np.asarray(indices, dtype=np.int64)
    valid = indices >= 0
    images = np.zeros((len(indices), SIDE, SIDE), dtype=np.uint8)
    images[valid] = ds.images[indices[valid]]
    labels = np.full(len(indices), -1, dtype=np.int64)
    if ds.has_labels:
        labels[valid] = ds.labels[indices[valid]]
    return mosaic(images, cols, pad), labels


def class_counts(ds: Dataset) -> np.ndarray:
    """Digits per class (10,) int64; zeros for an unlabeled set."""
    return ds.class_counts() if ds.has_labels else np.zeros(N_CLASSES, dtype=np.int64)


def class_means(ds: Dataset) -> np.ndarray:
    """The mean image of each class (10, 28, 28) float32 in [0, 255]; NaN for an absent class.

    Summed class by class in int64 (a class's rows are gathered as uint8, never as float).
    """
    means = np.full((N_CLASSES, PIXELS), np.nan, dtype=np.float64)
    if ds.has_labels:
        flat = ds.flat  # (N, 784) uint8, a view
        for c in range(N_CLASSES):
            rows = flat[ds.labels == c]  # (n_c, 784) uint8
            if len(rows):
                means[c] = rows.sum(axis=0, dtype=np.int64) / len(rows)
    return means.reshape(N_CLASSES, SIDE, SIDE).astype(np.float32)


def pixel_histogram(ds: Dataset, chunk: int = 5_000) -> np.ndarray:
    """How many pixels take each intensity 0..255: (256,) int64 (counted chunk by chunk:
    bincount widens its input to int64, 8 bytes a pixel)."""
    hist = np.zeros(256, dtype=np.int64)
    for s in range(0, len(ds), chunk):
        hist += np.bincount(ds.images[s:s + chunk].ravel(), minlength=256)
    return hist


def dataset_stats(ds: Dataset) -> dict:
    """Everything the Dataset page charts, in one pass per statistic (cache the result)."""
    return dict(name=ds.name, n=len(ds), counts=class_counts(ds), means=class_means(ds),
                histogram=pixel_histogram(ds), has_labels=ds.has_labels)


def softmax_table(probs: np.ndarray, decimals: int = 2) -> str:
    """The tutorials' printout of output vectors, one digit per line:
    `[0.00 0.00 0.01 0.97 ...] -> 3`."""
    lines = []
    for p in np.asarray(probs):
        vals = " ".join(f"{v:.{decimals}f}" for v in p)
        lines.append(f"[{vals}] -> {int(np.argmax(p))}")
    return "\n".join(lines)
