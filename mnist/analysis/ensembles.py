"""An ensemble's scores from its members' scores, without running the networks again.

An ensemble's probabilities are the mean of its members' (`mnist.nn.ensemble.Ensemble`), so
once every member has been scored on a test set (`mnist.training.metrics.score`, which keeps
the probabilities) the ensemble's score on that set is arithmetic: the app makes an ensemble
of models it has already scored in a fraction of a second instead of sending 10,000 digits
through a conv net again.
"""

from __future__ import annotations

import numpy as np

from mnist.nn.ensemble import TINY
from mnist.training.metrics import accuracy, confusion_matrix, per_class_accuracy


def ensemble_score(member_scores, y, dtype=np.float32) -> dict:
    """What `score(Ensemble(members), ds)` gives, from each member's `score(member, ds)` (each
    with its `probs` (N, 10)) and the labels y (N,): probs (the mean, summed in float64 as
    the Ensemble does, then `dtype`), preds, test_acc, test_loss (cross-entropy of the mean
    probability), per_class, confusion, n."""
    member_scores = list(member_scores)
    if not member_scores:
        raise ValueError("an ensemble needs at least one member's scores")
    y = np.asarray(y, dtype=np.int64)
    total = None
    for sc in member_scores:
        p = np.asarray(sc["probs"])
        if p.ndim != 2 or len(p) != len(y):
            raise ValueError(f"a member's probs have shape {p.shape}, expected ({len(y)}, "
                             "classes)")
        total = p.astype(np.float64) if total is None else total + p
    probs = (total / len(member_scores)).astype(dtype)  # (N, 10)
    if len(member_scores) == 1:  # an ensemble of one is that model, loss included
        return dict(member_scores[0])
    preds = probs.argmax(axis=1)
    pbar = np.maximum(probs.astype(np.float64), TINY)
    # the Ensemble's outputs are log(pbar); the loss reads them through a softmax
    logp = np.log(pbar[np.arange(len(y)), y]) - np.log(pbar.sum(axis=1))
    return dict(probs=probs, preds=preds, test_acc=accuracy(y, preds) if len(y) else None,
                test_loss=float(-logp.mean()) if len(y) else None,
                per_class=per_class_accuracy(y, preds), confusion=confusion_matrix(y, preds),
                n=len(y))
