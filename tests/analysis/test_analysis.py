"""mnist.analysis: mistakes / confusion cells / model comparison vs slow obvious references,
mosaics, my-digits helpers."""

import numpy as np
import pytest

from mnist import MLP, Dataset, DatasetError
import mnist.analysis as an


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


@pytest.mark.parametrize("sort", an.SORTS)
def test_mistakes_match_slow_reference(sort):
    y, probs = _random_eval()
    table = an.mistakes(y, probs, sort=sort)
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
            table = an.mistakes(y, probs, true_class=t, pred_class=p)
            ref = _reference(y, probs, "confidence", t, p)
            assert table["index"].tolist() == [r[0] for r in ref]
            expect = 0 if t == p else int(np.sum((y == t) & (preds == p)))
            assert len(table["index"]) == expect
    only_true = an.mistakes(y, probs, sort="index", true_class=3)
    assert only_true["index"].tolist() == [r[0] for r in _reference(y, probs, "index", 3)]
    with pytest.raises(ValueError, match="unknown sort"):
        an.mistakes(y, probs, sort="nope")


def test_paging():
    table = {"index": np.arange(95), "true": np.arange(95) % 10}
    assert an.n_pages(95, 40) == 3 and an.n_pages(0, 40) == 1 and an.n_pages(80, 40) == 2
    assert an.page_of(table, 2, 40)["index"].tolist() == list(range(80, 95))
    assert len(an.page_of(table, 5, 40)["index"]) == 0


def test_compare_matches_reference():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 10, 400)
    a = np.where(rng.random(400) < 0.8, y, rng.integers(0, 10, 400))
    b = np.where(rng.random(400) < 0.85, y, rng.integers(0, 10, 400))
    out = an.compare(y, a, b)
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


# ------------------------------------------------------------------------------ pictures
def test_mosaic_places_every_tile():
    imgs = np.arange(7 * 3 * 4, dtype=np.float32).reshape(7, 3, 4) + 1
    m = an.mosaic(imgs, cols=3, pad=1, fill=np.nan)
    assert m.shape == (3 * 4 + 1, 3 * 5 + 1)
    for k in range(7):
        r, c = divmod(k, 3)
        y0, x0 = 1 + r * 4, 1 + c * 5
        np.testing.assert_array_equal(m[y0:y0 + 3, x0:x0 + 4], imgs[k])
    assert np.isnan(m[0]).all() and np.isnan(m[9:, 11:]).all()  # border and empty slots
    u8 = an.mosaic(np.full((2, 28, 28), 200, np.uint8), cols=10)
    assert u8.dtype == np.uint8 and u8.shape == (30 + 2, 2 * 30 + 2)  # cols shrinks to n
    nan_u8 = an.mosaic(np.full((2, 28, 28), 200, np.uint8), fill=np.nan)
    assert nan_u8.dtype == np.float32 and np.isnan(nan_u8[0, 0])  # NaN gaps need floats


def test_uncertainty():
    assert an.uncertainty([0.05] * 4 + [0.45, 0.05, 0.05, 0.05, 0.05, 0.2]) == (4, 9)
    assert an.uncertainty([0.0] * 9 + [1.0]) is None
    assert an.uncertainty([0.0] * 3 + [0.55, 0.45] + [0.0] * 5, threshold=0.5) == (3, 4)  # margin
    assert an.uncertainty([0.0] * 3 + [0.75, 0.25] + [0.0] * 5, threshold=0.5) is None


# ------------------------------------------------------------------------------ my digits
def test_my_digits_roundtrip_and_errors():
    imgs = np.random.default_rng(0).integers(0, 256, (3, 28, 28)).astype(np.uint8)
    blob = an.my_digits_npz(imgs, [1, 7, 9])
    x, y = an.read_my_digits(blob)
    np.testing.assert_array_equal(x, imgs)
    assert y.tolist() == [1, 7, 9]
    with pytest.raises(DatasetError):
        an.read_my_digits(b"not an npz")
    with pytest.raises(DatasetError, match="labels"):
        an.my_digits_npz(imgs, [1, 2])
    assert an.to_uint8(np.full((28, 28), 0.5)).max() == 128
    assert an.to_uint8(np.full((1, 784), 1.0)).shape == (28, 28)  # a row is one digit
    wide = an.to_uint8(np.array([[0.0, 0.2, 1.0, 1.5]] * 3, np.float32))  # any picture
    assert wide.dtype == np.uint8 and wide.tolist() == [[0, 51, 255, 255]] * 3


def _toy_train(n=600, seed=0):
    """A labelled toy set where class k is a bright bar in row band k (learnable fast)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n).astype(np.uint8)
    x = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
    for i, k in enumerate(y):
        x[i, 2 + 2 * k:4 + 2 * k, 4:24] = 255
    return Dataset(x, y, "toy")


def test_finetune_dataset_mix():
    train = _toy_train()
    imgs = np.zeros((2, 28, 28), np.uint8)
    ds = an.finetune_dataset(imgs, [3, 5], train, n_mnist=100, repeat=4, seed=0)
    assert len(ds) == 2 * 4 + 100
    assert np.sum(ds.labels[:8] == 3) == 4 and np.sum(ds.labels[:8] == 5) == 4
    # the MNIST part is a stratified sample of the training set
    counts = np.bincount(ds.labels[8:], minlength=10)
    expect = np.bincount(train.labels, minlength=10) * 100 / len(train)
    assert np.all(np.abs(counts - expect) <= 1)
    with pytest.raises(DatasetError, match="empty"):
        an.finetune_dataset(np.zeros((0, 28, 28), np.uint8), [], train)
    # repeat=None: the user's digits make `share` of the mix
    ds = an.finetune_dataset(imgs, [3, 5], train, n_mnist=380, repeat=None, share=0.05)
    assert len(ds) == 2 * 10 + 380  # ceil(0.05 * 380 / (0.95 * 2)) = 10 copies each


def test_fine_tune_learns_my_digits_and_keeps_original():
    train = _toy_train()
    model = MLP((784, 32, 10), seed=0)
    before = model.state_dict()
    # "my handwriting": class 0 drawn as a vertical bar, which the model never saw
    mine = np.zeros((4, 28, 28), np.uint8)
    mine[:, 4:24, 12:15] = 255
    labels = np.zeros(4, np.uint8)
    new, cfg, history = an.fine_tune(model, mine, labels, train, steps=120, batch_size=32,
                                     lr=3e-3, n_mnist=300, repeat=20, seed=0)
    assert history[-1]["status"] == "done"
    assert an.score(new, mine, labels)["accuracy"] == 1.0
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])  # original untouched
    assert new is not model and cfg.val_fraction == 0.0
    s = an.score(model, np.zeros((0, 28, 28), np.uint8), [])
    assert s["n"] == 0 and s["accuracy"] is None
