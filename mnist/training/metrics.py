"""Scoring a classifier: accuracy, per-class accuracy, confusion matrix; evaluation in chunks.

Plain functions of label arrays, so they serve the network, the app's galleries and the CLI
alike. `evaluate(model, ds)` streams the dataset through the model 1,000 digits at a time, so
scoring all 60,000 training digits never holds them as floats at once. `score(model, ds)` is
the one summary of a model on a labelled set that the app, the training jobs and the Draw page
keep and show.
"""

from __future__ import annotations

import numpy as np

from mnist.constants import N_CLASSES


def accuracy(y_true, y_pred) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"label shapes differ: {y_true.shape} vs {y_pred.shape}")
    return float(np.mean(y_true == y_pred)) if len(y_true) else 0.0


def confusion_matrix(y_true, y_pred, n_classes: int = N_CLASSES) -> np.ndarray:
    """C[i, j] = number of digits of true class i predicted as j. (n, n) int64."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"label shapes differ: {y_true.shape} vs {y_pred.shape}")
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def per_class_accuracy(y_true, y_pred, n_classes: int = N_CLASSES) -> np.ndarray:
    """Recall of each class (n,): correct / present; NaN for a class with no digits."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    present = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present > 0, np.diag(cm) / np.maximum(present, 1), np.nan)


def evaluate(model, ds, batch_size: int | None = None, probs: bool = False) -> dict:
    """Loss, accuracy, per-class accuracy and confusion matrix of `model` (a network or an
    ensemble) on a labelled Dataset, plus the predictions (N,). Plain values (lists) except
    `predictions` and, with `probs=True`, `probs` (N, 10) float32: the class probabilities,
    from the same pass. Chunks of 1,000 rows (fewer for conv nets: `model.chunk_rows`)."""
    from mnist.data.dataset import batches

    batch_size = batch_size or min(1000, model.chunk_rows)
    preds = np.empty(len(ds), dtype=np.int64)
    all_probs = np.empty((len(ds), model.n_classes), dtype=np.float32) if probs else None
    total_loss = 0.0
    start = 0
    for x, y in batches(ds, batch_size):
        out = model.forward(x)
        preds[start:start + len(y)] = out.argmax(1)
        if probs:  # before the loss reuses `out`
            all_probs[start:start + len(y)] = model.loss_fn.probs(out)
        loss, _ = model.loss_fn.loss_and_delta(out, y, overwrite=True)
        total_loss += loss * len(y)
        start += len(y)
    y_true = ds.y()
    cm = confusion_matrix(y_true, preds)
    pca = per_class_accuracy(y_true, preds)
    return dict(
        n=len(ds),
        loss=total_loss / max(len(ds), 1),
        accuracy=accuracy(y_true, preds),
        per_class_accuracy=[None if np.isnan(v) else float(v) for v in pca],
        confusion=cm.tolist(),
        predictions=preds,
        **({"probs": all_probs} if probs else {}),
    )


def score(model, ds) -> dict:
    """A model on a labelled Dataset, from one pass over it: n, test_acc and test_loss (None for
    an empty set), probs (N, 10) float32, preds (N,) int64, per_class (10,) float (NaN for an
    absent class) and confusion (10, 10) int64.

    "test" because the app scores every model on its test set, but any labelled set will do
    (a job's test set, the user's own digits)."""
    if len(ds) == 0:
        return dict(probs=np.zeros((0, model.n_classes), np.float32),
                    preds=np.zeros(0, np.int64), test_loss=None, test_acc=None,
                    per_class=np.full(N_CLASSES, np.nan),
                    confusion=np.zeros((N_CLASSES, N_CLASSES), np.int64), n=0)
    ev = evaluate(model, ds, probs=True)
    per_class = np.array([np.nan if v is None else v for v in ev["per_class_accuracy"]])
    return dict(probs=ev["probs"], preds=ev["predictions"], test_loss=float(ev["loss"]),
                test_acc=float(ev["accuracy"]), per_class=per_class,
                confusion=np.array(ev["confusion"], dtype=np.int64), n=len(ds))
