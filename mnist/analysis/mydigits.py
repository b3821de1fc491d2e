"""The user's own handwriting: reading a drawing, keeping labelled drawings, fine-tuning on them.

The functions behind the Draw page:

- `read_drawing`: a canvas (pixels and strokes) -> what the network sees, its probabilities,
  whether it is unsure, and the saliency of its answer;
- "my digits": the user's labelled drawings saved and loaded as an NPZ (x, y), the layout the
  Dataset page reads too;
- `fine_tune`: a copy of a model taught those digits, mixed with a stratified MNIST sample so
  that a handful of drawings does not make the network forget MNIST; `held_out_accuracy`:
  how well that carries over to digits it did not train on (cross-validated);
- `synthetic_drawing`: what the canvas would return for a few digits, for tests and benchmarks.
"""

from __future__ import annotations

import io

import numpy as np

from mnist.analysis.inside import saliency
from mnist.analysis.mistakes import uncertainty
from mnist.constants import SIDE
from mnist.data.dataset import Dataset
from mnist.data.readers import read_npz
from mnist.errors import DatasetError
from mnist.training.config import TrainConfig, config_for_model
from mnist.training.loop import train as run_training
from mnist.training.persist import clone_model
from mnist.training.threads import blas_threads


def read_drawing(model, rgba, strokes=None, threshold: float = 0.6,
                 margin: float = 0.2) -> dict | None:
    """Canvas RGBA (+ its strokes JSON) -> what the Draw page shows, or None for an empty
    canvas: image (28, 28) float32 (what the network sees), probs (10,), pred, confidence,
    unsure ((best, second) or None), saliency (28, 28) of the winning logit.

    All of it is server-side work on every stroke, so it must stay fast (benchmarks/
    bench_draw.py): preprocessing dominates; one forward and one backward pass of a single
    row cost well under a millisecond.
    """
    # here, not at the top: Pillow and scipy load only when someone draws
    from mnist.drawing.normalize import preprocess_canvas

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

    Runs through `mnist.training.loop` like any other training (so it stops, diverges and
    reports the same way); the original model is untouched.
    """
    ds = finetune_dataset(images, labels, train, n_mnist=n_mnist, repeat=repeat, seed=seed)
    per_epoch = -(-len(ds) // batch_size)
    epochs = max(1, round(steps / per_epoch))
    cfg = config_for_model(TrainConfig(optimizer="adam", lr=lr, batch_size=batch_size,
                                       epochs=epochs, val_fraction=0.0, seed=seed), model)
    new = clone_model(model)
    new.meta = {}  # a new model: the old one's records are not its own
    run = run_training(cfg, ds, model=new, stop=stop)
    # small minibatches: a second BLAS thread only waits for the first (mnist.training.threads)
    with blas_threads(1):
        history = list(run)
    return new, cfg, history



def held_out_accuracy(model, images, labels, train: Dataset, folds: int = 5, seed: int = 0,
                      **fine_tune_kw) -> dict:
    """How well fine-tuning on my digits carries over to digits it did NOT train on.

    A model fine-tuned on my digits reads them back almost perfectly: it learned them. The
    honest figure is k-fold cross-validation: my digits split into `folds` parts (one digit
    per part, leave-one-out, when there are fewer), and for each part a fresh fine-tune of
    `model` on the other parts reads that part. Costs `folds` fine-tunes. Returns dict(
    accuracy (None for fewer than 2 digits), right, n, folds)."""
    images = np.asarray(images, dtype=np.uint8).reshape(-1, SIDE, SIDE)
    labels = np.asarray(labels).reshape(-1)
    n = len(labels)
    if n < 2:
        return dict(accuracy=None, right=0, n=n, folds=0)
    k = min(int(folds), n)
    order = np.random.default_rng(seed).permutation(n)
    right = 0
    for part in np.array_split(order, k):
        rest = np.setdiff1d(order, part)
        tuned, _, _ = fine_tune(model, images[rest], labels[rest], train, seed=seed,
                                **fine_tune_kw)
        x = images[part].reshape(len(part), -1).astype(np.float32) / 255  # (m, 784)
        right += int(np.sum(tuned.predict(x) == labels[part]))
    return dict(accuracy=right / n, right=right, n=n, folds=k)

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
