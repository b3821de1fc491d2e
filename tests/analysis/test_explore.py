"""mnist.analysis.explore against slow obvious references."""

import numpy as np
import pytest

import mnist
from mnist.analysis import explore


@pytest.fixture(scope="module")
def small():
    train, _ = mnist.load_mnist()
    return train.take(np.arange(3000), "small")


def test_mosaic_places_each_digit(small):
    imgs = small.images[:23]
    m = explore.mosaic(imgs, cols=5, pad=3, fill=7)
    assert m.shape == (3 + 5 * 31, 3 + 5 * 31)
    for k in range(23):
        r, c = divmod(k, 5)
        np.testing.assert_array_equal(m[3 + r * 31:3 + r * 31 + 28, 3 + c * 31:3 + c * 31 + 28],
                                      imgs[k])
    assert m[0, 0] == 7 and m[-1, -1] == 7  # gaps, and the empty last cells' corner


def test_pick_indices_modes(small):
    r = explore.pick_indices(small, "random", 100, seed=4)
    assert len(set(r)) == 100 and r.min() >= 0 and r.max() < len(small)
    assert np.array_equal(r, explore.pick_indices(small, "random", 100, seed=4))
    assert not np.array_equal(r, explore.pick_indices(small, "random", 100, seed=5))
    by = explore.pick_indices(small, "by class", 100)
    assert list(small.labels[by]) == [c for c in range(10) for _ in range(10)]
    ix = explore.pick_indices(small, "by index", 100, start=2950)
    assert list(ix[:50]) == list(range(2950, 3000)) and (ix[50:] == -1).all()
    with pytest.raises(ValueError):
        explore.pick_indices(small, "sideways")


def test_statistics_match_references(small):
    means = explore.class_means(small)
    for c in range(10):
        ref = small.images[small.labels == c].astype(np.float64).mean(0)
        np.testing.assert_allclose(means[c], ref, rtol=1e-5)
    hist = explore.pixel_histogram(small, chunk=700)
    ref = np.array([(small.images == v).sum() for v in range(256)])
    np.testing.assert_array_equal(hist, ref)
    np.testing.assert_array_equal(explore.class_counts(small),
                                  [(small.labels == c).sum() for c in range(10)])


def test_score_agrees_with_the_model(small):
    model = mnist.MLP((784, 12, 10), seed=2)
    s = explore.score(model, small)
    x, y = small.x(), small.y()
    probs = model.predict_proba(x)
    np.testing.assert_allclose(s["probs"], probs, rtol=1e-5, atol=1e-7)
    assert s["test_acc"] == pytest.approx(np.mean(probs.argmax(1) == y))
    assert s["confusion"].sum() == len(small)
    assert s["confusion"][3, 5] == np.sum((y == 3) & (probs.argmax(1) == 5))
    lines = explore.softmax_table(s["probs"][:2]).splitlines()
    assert len(lines) == 2 and lines[0].endswith(f"-> {probs[0].argmax()}")
