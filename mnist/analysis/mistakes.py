"""A model's mistakes: which digits it gets wrong, in which order, where two models differ.

The functions behind the Mistakes page, plain NumPy on labels and probabilities (what
`mnist.training.metrics.score` returns), so they are cheap to test against slow obvious
references:

- `mistake_table`: the misclassified digits, sorted (most confident first, by class, by index) and
  optionally only those of one confusion-matrix cell; `page_of` / `n_pages` cut them in pages;
- `compare`: model B against model A on the same digits (fixed / introduced / both wrong);
- `uncertainty`: "not sure: 4 or 9?" when the two best classes are close.
"""

from __future__ import annotations

import numpy as np

SORTS = ("confidence", "true", "pred", "index")


def mistake_table(y_true, probs, sort: str = "confidence", true_class: int | None = None,
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
    """Rows [page * per_page, (page + 1) * per_page) of a `mistake_table`."""
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
