"""Looking at a trained network: its mistakes, what it looks at, what happens inside it.

The functions behind the Mistakes, Draw and Inside pages, as plain NumPy:

- mistakes: which test digits a model gets wrong, sorted (most confident first, by class, by
  index) and filtered to one confusion-matrix cell; model A vs model B (fixed / introduced).
- inside (`mnist.analysis.inside`): every layer's values, saliency, weight tiles, pictures.
- "my digits": the user's own labelled drawings, mixed with a stratified MNIST sample so that
  fine-tuning on a handful of drawings does not make the network forget MNIST.
"""

from __future__ import annotations

import io

import numpy as np

from mnist.constants import N_CLASSES, SCALE, SIDE
from mnist.data.dataset import Dataset
from mnist.data.readers import read_npz
from mnist.errors import DatasetError
from mnist.analysis.explore import mosaic  # noqa: F401 (pictures of digits: one implementation)
from mnist.analysis.inside import (  # noqa: F401 (re-exported for the pages)
    forward_trace, normalise_tiles, output_contributions, predict_proba, saliency,
    saliency_overlay, upscale, weight_tiles)
from mnist.training.metrics import accuracy


# ============================================================================================
# Mistakes


SORTS = ("confidence", "true", "pred", "index")


def mistakes(y_true, probs, sort: str = "confidence", true_class: int | None = None,
             pred_class: int | None = None) -> dict:
    """The misclassified digits, sorted, optionally only those of one confusion cell.

    y_true (N,) ints, probs (N, 10). Returns dict of arrays, one entry per mistake:
    index (test-set position), true, pred, confidence (= probs[index, pred]).

    sort: "confidence" (most confident mistakes first: the ones the net is surest of and
    wrong), "true" (by true class, then most confident), "pred" (by predicted class, then most
    confident), "index" (test-set order). Ties always break by index, so the order is total.
    """
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r} (known: {', '.join(SORTS)})")
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs)
    if probs.ndim != 2 or len(probs) != len(y_true):
        raise ValueError(f"probs must be (N, classes) with N = {len(y_true)}, got {probs.shape}")
    pred = probs.argmax(axis=1)
    wrong = pred != y_true
    if true_class is not None:
        wrong &= y_true == int(true_class)
    if pred_class is not None:
        wrong &= pred == int(pred_class)
    index = np.flatnonzero(wrong)  # ascending
    t, p = y_true[index], pred[index]
    conf = probs[index, p].astype(np.float64)
    # np.lexsort sorts by the LAST key first; index is ascending already, so it is the
    # final tie-break (lexsort is stable).
    if sort == "confidence":
        order = np.lexsort((index, -conf))
    elif sort == "true":
        order = np.lexsort((index, -conf, t))
    elif sort == "pred":
        order = np.lexsort((index, -conf, p))
    else:
        order = np.arange(len(index))
    return dict(index=index[order], true=t[order], pred=p[order], confidence=conf[order])


def page_of(table: dict, page: int, per_page: int = 40) -> dict:
    """Rows [page * per_page, (page + 1) * per_page) of a `mistakes` table."""
    start = max(int(page), 0) * per_page
    return {k: v[start:start + per_page] for k, v in table.items()}


def n_pages(n: int, per_page: int = 40) -> int:
    return max(1, -(-int(n) // per_page))


def compare(y_true, pred_a, pred_b) -> dict:
    """Model B against model A on the same digits: indices (ascending) of
    fixed (A wrong, B right), introduced (A right, B wrong), both_wrong, and counts."""
    y_true = np.asarray(y_true, dtype=np.int64)
    a_ok = np.asarray(pred_a) == y_true
    b_ok = np.asarray(pred_b) == y_true
    out = dict(fixed=np.flatnonzero(~a_ok & b_ok), introduced=np.flatnonzero(a_ok & ~b_ok),
               both_wrong=np.flatnonzero(~a_ok & ~b_ok))
    out["counts"] = {k: int(len(v)) for k, v in out.items()}
    return out


def uncertainty(probs, threshold: float = 0.6, margin: float = 0.2) -> tuple | None:
    """(best, second) classes when the net is not sure (top probability < threshold or the
    two best within `margin`), else None. For "not sure: 4 or 9?"."""
    p = np.asarray(probs, dtype=np.float64).ravel()
    order = np.argsort(-p, kind="stable")
    best, second = int(order[0]), int(order[1])
    if p[best] < threshold or p[best] - p[second] < margin:
        return best, second
    return None


# ============================================================================================
# My digits: the user's own handwriting


def to_uint8(img) -> np.ndarray:
    """A float image in [0, 1] as uint8 pixels (how MNIST is stored). A digit as a row of
    784 pixels comes back (28, 28); any other image keeps its shape."""
    img = np.asarray(img, dtype=np.float64)
    if img.size == SIDE * SIDE and img.shape[-1] == SIDE * SIDE:
        img = img.reshape(SIDE, SIDE)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def my_digits_npz(images, labels) -> bytes:
    """The user's digits as an NPZ archive with x (n, 28, 28) uint8 and y (n,) uint8 (the
    layout `read_npz` and the Dataset page read back)."""
    images = np.asarray(images, dtype=np.uint8).reshape(-1, SIDE, SIDE)
    labels = np.asarray(labels, dtype=np.uint8).reshape(-1)
    if len(images) != len(labels):
        raise DatasetError(f"my digits: {len(images)} images but {len(labels)} labels")
    buf = io.BytesIO()
    np.savez_compressed(buf, x=images, y=labels)
    return buf.getvalue()


def read_my_digits(src, name: str = "my digits") -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 28, 28) uint8, labels (n,) uint8) from an NPZ with x/y (or any layout
    read_npz knows). Raises DatasetError naming the problem."""
    parts = read_npz(src, name)
    ds = parts.get("data") or parts.get("train") or next(iter(parts.values()))
    if not ds.has_labels:
        raise DatasetError(f"{name}: the archive has images but no labels (y)")
    return np.array(ds.images), np.array(ds.labels)


def score(model, images, labels) -> dict:
    """How the model does on a few labelled digits: accuracy, preds, probs."""
    images = np.asarray(images)
    labels = np.asarray(labels, dtype=np.int64)
    if len(images) == 0:
        return dict(n=0, accuracy=None, preds=np.zeros(0, np.int64),
                    probs=np.zeros((0, N_CLASSES), np.float32))
    x = images.reshape(len(images), -1)
    x = np.multiply(x, SCALE, dtype=np.float32) if x.dtype == np.uint8 else x
    probs = predict_proba(model, x)
    preds = probs.argmax(axis=1)
    return dict(n=len(labels), accuracy=accuracy(labels, preds), preds=preds, probs=probs)


def finetune_dataset(images, labels, train: Dataset, n_mnist: int = 2000,
                     repeat: int | None = 10, seed: int = 0, share: float = 0.05) -> Dataset:
    """The user's digits (each repeated `repeat` times, so a handful of drawings weigh as
    much as they should next to thousands of MNIST digits) plus a stratified sample of
    `n_mnist` training digits, so the network learns the new handwriting without forgetting
    MNIST. repeat=None: as many copies as make the user's digits `share` of the mix (at
    least one each)."""
    images = np.asarray(images, dtype=np.uint8).reshape(-1, SIDE, SIDE)
    labels = np.asarray(labels, dtype=np.uint8).reshape(-1)
    if len(images) == 0:
        raise DatasetError("my digits is empty: add a few labelled drawings first")
    if len(images) != len(labels):
        raise DatasetError(f"my digits: {len(images)} images but {len(labels)} labels")
    if not train.has_labels:
        raise DatasetError(f"{train.name} has no labels: it cannot be mixed in")
    if repeat is None:
        repeat = max(1, int(np.ceil(share * n_mnist / ((1 - share) * len(images)))))
    parts_x, parts_y = [np.repeat(images, repeat, axis=0)], [np.repeat(labels, repeat)]
    if n_mnist:
        sample = train.subset(min(int(n_mnist), len(train)), seed=seed)
        parts_x.append(sample.images)
        parts_y.append(sample.labels)
    return Dataset(np.concatenate(parts_x), np.concatenate(parts_y),
                   f"my digits x{repeat} + {n_mnist} MNIST")


def fine_tune(model, images, labels, train: Dataset, steps: int = 400, batch_size: int = 64,
              lr: float = 3e-4, n_mnist: int = 10000, repeat: int | None = None,
              seed: int = 0,
              stop=None):
    """Fine-tune a COPY of `model` on my digits mixed with MNIST for about `steps` minibatch
    steps with Adam at a small learning rate. Returns (new model, config, history).

    The user's digits are repeated to make 5% of the mix (repeat=None). The defaults were
    chosen on the bundled model taught three drawings under a wrong label (the hardest case):
    it learns them all and test accuracy drops by a few tenths of a point (2,000 MNIST digits
    at lr 5e-4 lost 0.5 points: too few digits to remember MNIST by).

    Runs through `mnist.training.loop` like any other training (so it stops, diverges and reports the
    same way); the original model is untouched.
    """
    from mnist.training.config import TrainConfig
    from mnist.training.jobs import clone_model, config_for_model
    from mnist.training.threads import blas_threads
    from mnist.training.loop import train as run_training

    ds = finetune_dataset(images, labels, train, n_mnist=n_mnist, repeat=repeat, seed=seed)
    per_epoch = -(-len(ds) // batch_size)
    epochs = max(1, round(steps / per_epoch))
    cfg = config_for_model(TrainConfig(optimizer="adam", lr=lr, batch_size=batch_size,
                                       epochs=epochs, val_fraction=0.0, seed=seed), model)
    new = clone_model(model)
    new.meta = {}  # a new model: the old one's records are not its own
    run = run_training(cfg, ds, model=new, stop=stop)
    # small minibatches on a busy machine: a multi-threaded BLAS waits for its threads
    # (measured: 300 steps took 26 s with 2 OpenBLAS threads under load, 0.6 s with one)
    with blas_threads(1):
        history = list(run)
    return new, cfg, history


# ============================================================================================
# A drawing, end to end (the Draw page's work on every canvas update)


def read_drawing(model, rgba, strokes=None, threshold: float = 0.6,
                 margin: float = 0.2) -> dict | None:
    """Canvas RGBA (+ its strokes JSON) -> what the Draw page shows, or None for an empty
    canvas: image (28, 28) float32 (what the network sees), probs (10,), pred, confidence,
    unsure ((best, second) or None), saliency (28, 28) of the winning logit.

    All of it is server-side work on every stroke, so it must stay fast (benchmarks/
    bench_draw.py): preprocessing dominates; one forward and one backward pass of a single
    row cost well under a millisecond.
    """
    from mnist.drawing import preprocess_canvas

    if rgba is None and not strokes:
        return None
    image = preprocess_canvas(rgba, strokes=strokes)
    if image is None:
        return None
    grad, probs = saliency(model, image.reshape(1, -1))
    p = probs[0].astype(np.float64)
    pred = int(p.argmax())
    return dict(image=image, probs=p, pred=pred, confidence=float(p[pred]),
                unsure=uncertainty(p, threshold, margin),
                saliency=grad[0].reshape(SIDE, SIDE).astype(np.float64))


# Pen paths of a few digits on a unit square (x right, y down), for synthetic drawings.
_SHAPES = {
    "1": [[(0.5, 0.15), (0.5, 0.85)]],
    "7": [[(0.3, 0.2), (0.7, 0.2), (0.45, 0.85)]],
    "0": [[(0.5 + 0.2 * np.sin(t), 0.5 - 0.32 * np.cos(t))
           for t in np.linspace(0, 2 * np.pi, 25)]],
}


def synthetic_drawing(kind: str = "7", side: int = 280, pen: int = 18) -> tuple:
    """A canvas-like drawing of digit `kind` ("0", "1", "7"): (rgba (side, side, 4) uint8,
    white pen on black, and the matching fabric.js-style json_data with one path per stroke).
    For tests and benchmarks: what streamlit-drawable-canvas would return."""
    from PIL import Image, ImageDraw

    if kind not in _SHAPES:
        raise ValueError(f"no synthetic drawing of {kind!r} (known: {', '.join(_SHAPES)})")
    im = Image.new("RGBA", (side, side), (0, 0, 0, 255))
    draw = ImageDraw.Draw(im)
    objects = []
    for stroke in _SHAPES[kind]:
        pts = [(float(x * side), float(y * side)) for x, y in stroke]
        draw.line(pts, fill=(255, 255, 255, 255), width=pen, joint="curve")
        for x, y in (pts[0], pts[-1]):
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2),
                         fill=(255, 255, 255, 255))
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        path = [["M", *pts[0]]] + [["L", *p] for p in pts[1:]]
        objects.append(dict(type="path", path=path, stroke="#FFFFFF", strokeWidth=pen,
                            fill=None, left=min(xs) - pen / 2, top=min(ys) - pen / 2,
                            width=max(xs) - min(xs), height=max(ys) - min(ys),
                            scaleX=1, scaleY=1, angle=0, originX="left", originY="top"))
    return np.asarray(im), {"version": "5.3.0", "objects": objects, "background": "#000000"}
