"""Tests for mnist.data.augment: batched random affine maps and stroke-weight changes."""

import numpy as np
import pytest
from scipy import ndimage

from mnist.data.augment import (
    apply_affines,
    augment_batch,
    change_thickness,
    random_affines,
)


@pytest.fixture(scope="module")
def digits():
    """Digit-like test images: a few thick rings and bars at varied places, (32, 784)."""
    rng = np.random.default_rng(0)
    r, c = np.mgrid[0:28, 0:28]
    out = []
    for _ in range(32):
        cy, cx = rng.uniform(10, 18, 2)
        ring = np.abs(np.hypot((r - cy) / 1.3, c - cx) - 6) < 1.5
        bar = (np.abs(c - cx - 3) < 1.2) & (r > 5) & (r < 23)
        img = np.where(rng.random() < 0.5, ring, bar).astype(np.float32)
        out.append(ndimage.gaussian_filter(img, 0.6))
    x = np.stack(out).reshape(32, 784)
    return (x / x.max()).astype(np.float32)


def test_shape_dtype_range_and_input_untouched(digits):
    before = digits.copy()
    out = augment_batch(digits, np.random.default_rng(1))
    assert out.shape == digits.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.array_equal(digits, before)
    assert not np.allclose(out, digits)
    images = augment_batch(digits.reshape(-1, 28, 28), np.random.default_rng(1))
    assert images.shape == (32, 28, 28)
    assert np.array_equal(images.reshape(32, 784), out)
    x64 = augment_batch(digits.astype(np.float64), np.random.default_rng(1))
    assert x64.dtype == np.float32 and np.allclose(x64, out, atol=1e-6)


def test_reproducible_with_the_same_seed_different_with_another(digits):
    a = augment_batch(digits, np.random.default_rng(42))
    b = augment_batch(digits, np.random.default_rng(42))
    c = augment_batch(digits, np.random.default_rng(43))
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    # and every sample gets its own transform
    same = np.stack([digits[0]] * 8)
    outs = augment_batch(same, np.random.default_rng(0))
    assert len({o.tobytes() for o in outs}) == 8


def test_identity_when_all_magnitudes_are_zero(digits):
    out = augment_batch(digits, np.random.default_rng(0), max_shift=0, max_rotate=0,
                        scale=(1, 1), thickness=False)
    assert np.array_equal(out, digits)


def test_batched_sampler_matches_ndimage_affine_transform(digits):
    """The fast path against the slow obvious reference: one affine_transform per sample."""
    imgs = digits.reshape(-1, 28, 28)
    M = random_affines(len(imgs), np.random.default_rng(3), max_shift=3, max_rotate=20,
                       scale=(0.8, 1.2))
    fast = apply_affines(imgs, M)
    ref = np.stack([
        ndimage.affine_transform(im.astype(np.float64), m[:, :2], offset=m[:, 2], order=1,
                                 mode="grid-constant", cval=0.0)
        for im, m in zip(imgs, M)
    ])
    assert np.abs(fast - ref).max() < 1e-5


def test_whole_pixel_shift_moves_the_image():
    img = np.zeros((1, 28, 28), np.float32)
    img[0, 10:14, 8:12] = 1.0
    M = np.array([[[1, 0, -3], [0, 1, 2]]], float)  # output (r, c) reads input (r - 3, c + 2)
    out = apply_affines(img, M)
    expected = np.zeros_like(img)
    expected[0, 13:17, 6:10] = 1.0
    assert np.array_equal(out, expected)


def test_parameters_stay_within_their_ranges():
    M = random_affines(2000, np.random.default_rng(0), max_shift=2.5, max_rotate=12,
                       scale=(0.85, 1.15))
    A = M[:, :, :2]  # (n, 2, 2) = R(-angle) / s
    s = 1 / np.sqrt(np.abs(np.linalg.det(A)))
    angle = np.degrees(np.arctan2(A[:, 0, 1], A[:, 0, 0]))
    assert s.min() >= 0.85 - 1e-9 and s.max() <= 1.15 + 1e-9
    assert np.abs(angle).max() <= 12 + 1e-9 and np.abs(angle).max() > 10
    # the centre moves by the shift only: forward map of the centre = centre + shift
    centre = np.array([13.5, 13.5])
    shift = np.array([np.linalg.solve(a, centre - t) for a, t in zip(A, M[:, :, 2])]) - centre
    assert np.abs(shift).max() <= 2.5 + 1e-9 and np.abs(shift).max() > 2.3


def test_rotation_keeps_ink_and_turns_a_bar():
    img = np.zeros((1, 28, 28), np.float32)
    img[0, 4:24, 13:15] = 1.0  # a vertical bar through the centre
    for angle in (30.0, -30.0):
        a = np.radians(angle)
        R = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
        c = np.array([13.5, 13.5])
        M = np.concatenate([R, (c - R @ c)[:, None]], axis=1)[None]
        out = apply_affines(img, M)[0]
        assert abs(out.sum() - img.sum()) < 0.05 * img.sum()  # rotation keeps the ink
        rows, cols = np.nonzero(out > 0.5)
        slope = np.polyfit(rows, cols, 1)[0]  # d(col)/d(row) of the turned bar
        assert abs(abs(slope) - np.tan(np.radians(30))) < 0.1
        # positive angle = counter-clockwise on screen: top goes left, bottom right ("\\")
        assert np.sign(slope) == np.sign(angle)


def test_thickness_blends_towards_dilation_and_erosion(digits):
    imgs = digits.reshape(-1, 28, 28)[:4]
    t = np.array([0.0, 0.5, -0.5, 1.0])
    out = change_thickness(imgs, t)
    mass = out.reshape(4, -1).sum(1)
    base = imgs.reshape(4, -1).sum(1)
    assert np.array_equal(out[0], imgs[0])
    assert mass[1] > base[1] and mass[2] < base[2]
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)
    assert np.allclose(out[3], ndimage.grey_dilation(imgs[3], footprint=cross, mode="constant"))


@pytest.mark.parametrize("bad, match", [
    (dict(x=np.zeros((4, 100), np.float32)), "784"),
    (dict(rng=np.random.RandomState(0)), "Generator"),
    (dict(scale=(1.2, 0.8)), "scale"),
    (dict(thickness=2.0), "thickness"),
])
def test_bad_arguments_are_clear_errors(bad, match):
    kw = dict(x=np.zeros((4, 784), np.float32), rng=np.random.default_rng(0))
    kw.update(bad)
    x, rng = kw.pop("x"), kw.pop("rng")
    with pytest.raises((ValueError, TypeError), match=match):
        augment_batch(x, rng, **kw)


def test_empty_batch():
    out = augment_batch(np.zeros((0, 784), np.float32), np.random.default_rng(0))
    assert out.shape == (0, 784) and out.dtype == np.float32
