"""The Dataset: digits as uint8 images with uint8 labels, and the minibatches cut from it.

Images are kept as they come, uint8 of shape (N, 28, 28): the 60,000 training digits take
47 MB that way and four times as much as float32. Batches are converted to float32 in [0, 1]
(`* SCALE`, the tutorials' `/ 255`) on the fly, into a reused buffer. Arrays are read-only, so
one Dataset can be shared by every caller (and every app session) without copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from mnist.constants import N_CLASSES, PIXELS, SCALE, SIDE
from mnist.errors import DatasetError


def _readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of `a` (no copy): shared arrays must not be changed by anyone."""
    v = a.view()
    v.flags.writeable = False
    return v


@dataclass(frozen=True, eq=False)
class Dataset:
    """Digits as uint8 images (N, 28, 28) with uint8 labels (N,), or no labels at all.

    An unlabeled dataset (Kaggle's test.csv) can be predicted but not scored.
    """

    images: np.ndarray
    labels: np.ndarray | None
    name: str = "dataset"

    def __post_init__(self):
        images = np.asarray(self.images)
        if images.dtype != np.uint8:
            raise DatasetError(f"{self.name}: images must be uint8, got {images.dtype}")
        if images.ndim == 2 and images.shape[1] == PIXELS:
            images = images.reshape(-1, SIDE, SIDE)
        if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
            raise DatasetError(
                f"{self.name}: images must be 28x28, got shape {tuple(images.shape)}"
            )
        labels = self.labels
        if labels is not None:
            labels = np.asarray(labels)
            if labels.ndim != 1 or len(labels) != len(images):
                raise DatasetError(
                    f"{self.name}: {len(images)} images but labels of shape {labels.shape}"
                )
            if labels.dtype != np.uint8:
                if len(labels) and (labels.min() < 0 or labels.max() > 9):
                    raise DatasetError(f"{self.name}: labels outside 0-9")
                labels = labels.astype(np.uint8)
            elif len(labels) and labels.max() > 9:
                raise DatasetError(f"{self.name}: labels outside 0-9 (found {labels.max()})")
            labels = _readonly(labels)
        object.__setattr__(self, "images", _readonly(images))
        object.__setattr__(self, "labels", labels)

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        kind = "labeled" if self.has_labels else "unlabeled"
        return f"Dataset({self.name!r}, {len(self)} {kind} digits)"

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    @property
    def flat(self) -> np.ndarray:
        """The images as rows, (N, 784) uint8, without copying."""
        return self.images.reshape(len(self), PIXELS)

    def x(self, idx=None) -> np.ndarray:
        """Images (all, or `idx`) as float32 rows in [0, 1]: (n, 784). Allocates."""
        rows = self.flat if idx is None else self.flat[idx]
        return np.multiply(rows, SCALE, dtype=np.float32)

    def y(self, idx=None) -> np.ndarray:
        """Labels (all, or `idx`) as int64."""
        if self.labels is None:
            raise DatasetError(f"{self.name} has no labels: it can be predicted, not scored")
        lab = self.labels if idx is None else self.labels[idx]
        return lab.astype(np.int64)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.y(), minlength=N_CLASSES)

    def take(self, indices, name: str | None = None) -> Dataset:
        indices = np.asarray(indices, dtype=np.int64)
        return Dataset(
            self.images[indices],
            None if self.labels is None else self.labels[indices],
            name or self.name,
        )

    def _stratified_pick(self, n_pick: int, rng: np.random.Generator) -> np.ndarray:
        """`n_pick` indices, each class represented in proportion (largest remainders)."""
        if self.labels is None:
            return np.sort(rng.permutation(len(self))[:n_pick])
        labels = self.labels
        classes, counts = np.unique(labels, return_counts=True)
        exact = counts * (n_pick / len(self))
        quota = np.floor(exact).astype(np.int64)
        short = n_pick - quota.sum()
        if short:
            order = np.argsort(-(exact - quota), kind="stable")
            quota[order[:short]] += 1
        picked = []
        for c, q in zip(classes, quota):
            members = np.flatnonzero(labels == c)
            picked.append(rng.permutation(members)[:q])
        return np.sort(np.concatenate(picked))

    def split(self, fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
        """Stratified (train, validation) split: `fraction` of each class goes to validation."""
        fraction = float(fraction)
        if not 0.0 < fraction < 1.0:
            raise DatasetError(f"validation fraction must be between 0 and 1, got {fraction}")
        n_val = int(round(fraction * len(self)))
        if n_val < 1 or n_val >= len(self):
            raise DatasetError(
                f"{self.name}: a validation fraction of {fraction} of {len(self)} digits "
                "leaves one side empty"
            )
        rng = np.random.default_rng(seed)
        val_idx = self._stratified_pick(n_val, rng)
        mask = np.ones(len(self), dtype=bool)
        mask[val_idx] = False
        return (
            self.take(np.flatnonzero(mask), f"{self.name} (train part)"),
            self.take(val_idx, f"{self.name} (validation)"),
        )

    def subset(self, n_or_fraction: int | float, seed: int = 0) -> Dataset:
        """A stratified subsample: `n` digits (int) or a fraction of them (float in (0, 1])."""
        size = n_or_fraction
        if isinstance(size, (bool, np.bool_)):
            raise DatasetError(f"subset size must be a number, got {size!r}")
        if isinstance(size, (float, np.floating)):
            if not 0.0 < size <= 1.0:
                raise DatasetError(f"subset fraction must be in (0, 1], got {size}")
            n = max(1, int(round(size * len(self))))
        else:
            n = int(size)
            if not 1 <= n <= len(self):
                raise DatasetError(f"subset size must be between 1 and {len(self)}, got {n}")
        if n == len(self):
            return self
        rng = np.random.default_rng(seed)
        return self.take(self._stratified_pick(n, rng), f"{self.name} (subset of {n})")


def batches(
    dataset: Dataset, batch_size: int | None, rng: np.random.Generator | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Minibatches `(x float32 (B, 784) in [0, 1], y int64 (B,))`, shuffled by `rng`.

    `rng=None` keeps the dataset's order (evaluation in chunks). `batch_size` None, 0 or
    >= len(dataset) gives one full batch (full-batch gradient descent). The last batch may be
    smaller. `x` is one reused buffer: it is valid until the next iteration, so copy it to
    keep it. `y` is None for an unlabeled dataset.
    """
    n = len(dataset)
    if not batch_size or batch_size >= n:
        batch_size = n
    if batch_size < 1:
        raise DatasetError(f"batch size must be positive, got {batch_size}")
    order = np.arange(n) if rng is None else rng.permutation(n)
    flat = dataset.flat
    labels = dataset.labels
    u8 = np.empty((batch_size, PIXELS), dtype=np.uint8)  # gathered rows
    x = np.empty((batch_size, PIXELS), dtype=np.float32)  # the same rows, scaled
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        b = len(idx)
        # take(..., out=, mode="clip") is the fast gather path (mode="raise" copies through a
        # temporary); the indices come from arange/permutation so clipping never triggers.
        np.take(flat, idx, axis=0, out=u8[:b], mode="clip")
        np.multiply(u8[:b], SCALE, out=x[:b])
        y = None if labels is None else labels[idx].astype(np.int64)
        yield x[:b], y
