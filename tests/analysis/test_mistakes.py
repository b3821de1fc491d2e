"""mnist.analysis.mistakes: mistakes / confusion cells / model comparison vs slow obvious
references, paging, uncertainty."""

import numpy as np
import pytest

from mnist.analysis import mistakes as mk


# ------------------------------------------------------------------------------ mistakes
def _random_eval(n=500, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    logits = rng.normal(size=(n, 10))
    logits[np.arange(n), y] += 1.5  # mostly right, plenty wrong
    logits[:20] = logits[20:40]  # some exact ties in confidence
    p = np.exp(logits)
    return y, (p / p.sum(1, keepdims=True)).astype(np.float32)


def _reference(y, probs, sort, t=None, p=None):
    rows = []
    for i in range(len(y)):
        pred = max(range(10), key=lambda k: (probs[i][k], -k))  # argmax, first on ties
        if pred == y[i] or (t is not None and y[i] != t) or (p is not None and pred != p):
            continue
        rows.append((i, int(y[i]), pred, float(probs[i][pred])))
    keys = {
        "confidence": lambda r: (-r[3], r[0]),
        "true": lambda r: (r[1], -r[3], r[0]),
        "pred": lambda r: (r[2], -r[3], r[0]),
        "index": lambda r: r[0],
    }
    return sorted(rows, key=keys[sort])


@pytest.mark.parametrize("sort", mk.SORTS)
def test_mistakes_match_slow_reference(sort):
    y, probs = _random_eval()
    table = mk.mistake_table(y, probs, sort=sort)
    ref = _reference(y, probs, sort)
    assert len(ref) > 50
    assert table["index"].tolist() == [r[0] for r in ref]
    assert table["true"].tolist() == [r[1] for r in ref]
    assert table["pred"].tolist() == [r[2] for r in ref]
    np.testing.assert_allclose(table["confidence"], [r[3] for r in ref], rtol=1e-6)


def test_confusion_cell_filter_matches_reference_and_confusion_counts():
    y, probs = _random_eval(seed=1)
    preds = probs.argmax(1)
    for t in range(10):
        for p in range(10):
            table = mk.mistake_table(y, probs, true_class=t, pred_class=p)
            ref = _reference(y, probs, "confidence", t, p)
            assert table["index"].tolist() == [r[0] for r in ref]
            expect = 0 if t == p else int(np.sum((y == t) & (preds == p)))
            assert len(table["index"]) == expect
    only_true = mk.mistake_table(y, probs, sort="index", true_class=3)
    assert only_true["index"].tolist() == [r[0] for r in _reference(y, probs, "index", 3)]
    with pytest.raises(ValueError, match="unknown sort"):
        mk.mistake_table(y, probs, sort="nope")


def test_paging():
    table = {"index": np.arange(95), "true": np.arange(95) % 10}
    assert mk.n_pages(95, 40) == 3 and mk.n_pages(0, 40) == 1 and mk.n_pages(80, 40) == 2
    assert mk.page_of(table, 2, 40)["index"].tolist() == list(range(80, 95))
    assert len(mk.page_of(table, 5, 40)["index"]) == 0


def test_compare_matches_reference():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 10, 400)
    a = np.where(rng.random(400) < 0.8, y, rng.integers(0, 10, 400))
    b = np.where(rng.random(400) < 0.85, y, rng.integers(0, 10, 400))
    out = mk.compare(y, a, b)
    fixed = [i for i in range(400) if a[i] != y[i] and b[i] == y[i]]
    introduced = [i for i in range(400) if a[i] == y[i] and b[i] != y[i]]
    both = [i for i in range(400) if a[i] != y[i] and b[i] != y[i]]
    assert out["fixed"].tolist() == fixed and len(fixed) > 0
    assert out["introduced"].tolist() == introduced and len(introduced) > 0
    assert out["both_wrong"].tolist() == both
    assert out["counts"] == {"fixed": len(fixed), "introduced": len(introduced),
                             "both_wrong": len(both)}
    # B minus A accuracy is exactly fixed - introduced
    assert np.sum(b == y) - np.sum(a == y) == len(fixed) - len(introduced)


def test_uncertainty():
    assert mk.uncertainty([0.05] * 4 + [0.45, 0.05, 0.05, 0.05, 0.05, 0.2]) == (4, 9)
    assert mk.uncertainty([0.0] * 9 + [1.0]) is None
    assert mk.uncertainty([0.0] * 3 + [0.55, 0.45] + [0.0] * 5, threshold=0.5) == (3, 4)  # margin
    assert mk.uncertainty([0.0] * 3 + [0.75, 0.25] + [0.0] * 5, threshold=0.5) is None
