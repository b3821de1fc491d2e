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


def test_softmax_table(small):
    model = mnist.MLP((784, 12, 10), seed=2)
    probs = model.predict_proba(small.x(np.arange(2)))
    lines = explore.softmax_table(probs).splitlines()
    assert len(lines) == 2 and lines[0].endswith(f"-> {probs[0].argmax()}")


def test_mosaic_places_every_tile():
    imgs = np.arange(7 * 3 * 4, dtype=np.float32).reshape(7, 3, 4) + 1
    m = explore.mosaic(imgs, cols=3, pad=1, fill=np.nan)
    assert m.shape == (3 * 4 + 1, 3 * 5 + 1)
    for k in range(7):
        r, c = divmod(k, 3)
        y0, x0 = 1 + r * 4, 1 + c * 5
        np.testing.assert_array_equal(m[y0:y0 + 3, x0:x0 + 4], imgs[k])
    assert np.isnan(m[0]).all() and np.isnan(m[9:, 11:]).all()  # border and empty slots
    u8 = explore.mosaic(np.full((2, 28, 28), 200, np.uint8), cols=10)
    assert u8.dtype == np.uint8 and u8.shape == (30 + 2, 2 * 30 + 2)  # cols shrinks to n
    nan_u8 = explore.mosaic(np.full((2, 28, 28), 200, np.uint8), fill=np.nan)
    assert nan_u8.dtype == np.float32 and np.isnan(nan_u8[0, 0])  # NaN gaps need floats
