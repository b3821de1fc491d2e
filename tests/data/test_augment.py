"""Tests for mnist.data.augment: batched random affine maps (shift, rotation, scale, slant),
elastic distortions and stroke-weight changes."""

import numpy as np
import pytest
from scipy import ndimage

from mnist.data.augment import (
    _gaussian_matrix,
    apply_affines,
    augment_batch,
    change_thickness,
    elastic_fields,
    random_affines,
    sample,
)

ALL_ON = dict(max_shift=2, max_rotate=10, scale=(0.9, 1.1), max_slant=15, thickness=0.6,
              elastic=30)
NOTHING = dict(max_shift=0, max_rotate=0, scale=(1, 1), max_slant=0, thickness=False, elastic=0)
CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)


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
                        scale=(1, 1), max_slant=0, thickness=False, elastic=0)
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
    (dict(max_slant=-5), "max_slant"),
    (dict(max_slant=75), "max_slant"),
    (dict(elastic=-1.0), "elastic"),
    (dict(elastic=30, elastic_sigma=0.0), "elastic"),
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


# ---------------------------------------------------------------- every augmentation at once


def test_all_augmentations_shape_dtype_range_and_seeded(digits):
    before = digits.copy()
    a = augment_batch(digits, np.random.default_rng(5), **ALL_ON)
    b = augment_batch(digits, np.random.default_rng(5), **ALL_ON)
    c = augment_batch(digits, np.random.default_rng(6), **ALL_ON)
    assert a.shape == digits.shape and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert np.array_equal(digits, before)
    assert np.array_equal(a, b) and not np.allclose(a, c)
    # the digit is moved and bent, not destroyed: its ink stays, and it still looks like it
    mass_in, mass_out = digits.sum(1), a.sum(1)
    assert np.all(np.abs(mass_out / mass_in - 1) < 0.6)
    assert np.median([np.corrcoef(u, v)[0, 1] for u, v in zip(digits, a)]) > 0.3


def test_zero_slant_and_elastic_leave_the_plain_augmentation_as_it_was(digits):
    """max_slant=0 and elastic=0 draw nothing extra: the same maps, the same output."""
    kw = dict(max_shift=2, max_rotate=10, scale=(0.9, 1.1), thickness=0.5)
    rng = np.random.default_rng(9)
    M = random_affines(len(digits), rng, max_shift=2, max_rotate=10, scale=(0.9, 1.1))
    t = rng.uniform(-0.5, 0.5, len(digits))
    by_hand = np.clip(apply_affines(change_thickness(digits.reshape(-1, 28, 28), t), M), 0, 1)
    out = augment_batch(digits, np.random.default_rng(9), max_slant=0, elastic=0, **kw)
    assert np.array_equal(out, by_hand.reshape(digits.shape))


# ---------------------------------------------------------------- slant


def _bar(vertical=True):
    img = np.zeros((1, 28, 28), np.float32)
    if vertical:
        img[0, 4:24, 13:15] = 1.0  # a vertical bar through the centre
    else:
        img[0, 13:15, 4:24] = 1.0
    return img


def _slant_only(max_slant, n=1, seed=0):
    return random_affines(n, np.random.default_rng(seed), max_shift=0, max_rotate=0,
                          scale=(1, 1), max_slant=max_slant)


def test_slant_shears_a_vertical_bar_and_leaves_a_horizontal_one():
    for seed in range(4):
        M = _slant_only(30, seed=seed)
        k = M[0, 1, 0]  # the inverse shear adds k * row to the column: tan(slant)
        assert abs(k) <= np.tan(np.radians(30)) + 1e-12
        out = apply_affines(_bar(), M)[0]
        rows, cols = np.nonzero(out > 0.5)
        slope = np.polyfit(rows, cols, 1)[0]  # d(col)/d(row)
        assert abs(slope - (-k)) < 0.05  # leaning: top right for a positive slant ("/")
        assert abs(out.sum() - _bar().sum()) < 0.02 * _bar().sum()  # a shear keeps the area
        # rows only slide sideways, by k times their height above the centre (13.5): a
        # horizontal bar keeps its rows and its ink, each row shifted by -/+ k/2
        flat = apply_affines(_bar(vertical=False), M)[0]
        assert np.abs(flat[:13]).max() == 0 and np.abs(flat[15:]).max() == 0
        assert np.allclose(flat[13:15].sum(1), 20, atol=1e-4)
        centroid = (flat[13:15] * np.arange(28)).sum(1) / flat[13:15].sum(1)
        assert np.allclose(centroid - 13.5, [k / 2, -k / 2], atol=1e-4)


def test_slant_angles_stay_in_range_with_rotation_and_scale():
    M = random_affines(2000, np.random.default_rng(1), max_shift=1, max_rotate=10,
                       scale=(0.9, 1.1), max_slant=20)
    A = M[:, :, :2]  # Shear(-phi) @ R(-angle) / s: row 0 is R's, row 1 adds k times it
    s = 1 / np.hypot(A[:, 0, 0], A[:, 0, 1])
    angle = np.degrees(np.arctan2(A[:, 0, 1], A[:, 0, 0]))
    k = (A[:, 1, 0] + A[:, 0, 1]) / A[:, 0, 0]  # (k cos - sin + sin) / cos
    slant = np.degrees(np.arctan(k))
    assert np.allclose(np.abs(np.linalg.det(A)), 1 / s**2)  # a shear changes no area
    assert s.min() >= 0.9 - 1e-9 and s.max() <= 1.1 + 1e-9
    assert np.abs(angle).max() <= 10 + 1e-9
    assert np.abs(slant).max() <= 20 + 1e-9 and np.abs(slant).max() > 19
    assert abs(np.mean(slant)) < 1.5  # both ways


# ---------------------------------------------------------------- elastic distortion


def test_gaussian_smoothing_matches_ndimage_gaussian_filter():
    noise = np.random.default_rng(0).uniform(-1, 1, (3, 28, 28))
    for sigma in (1.5, 4.0, 8.0):
        G = _gaussian_matrix(sigma)
        ref = ndimage.gaussian_filter(noise, sigma=(0, sigma, sigma), mode="constant")
        assert np.abs(G @ noise @ G.T - ref).max() < 1e-6


def test_elastic_fields_are_smooth_seeded_and_scale_with_alpha():
    f = elastic_fields(400, np.random.default_rng(2), alpha=34).reshape(400, 2, 28, 28)
    assert f.dtype == np.float32
    assert np.array_equal(f.reshape(400, 2, 784),
                          elastic_fields(400, np.random.default_rng(2), alpha=34))
    G = _gaussian_matrix(4.0)
    # at the centre each displacement is a weighted sum of uniform(-1, 1) noise (variance 1/3)
    expected_rms = 34 * np.sqrt(np.sum(np.outer(G[13], G[13]) ** 2) / 3)
    rms = np.sqrt(np.mean(f[:, :, 13, 13] ** 2))
    assert abs(rms / expected_rms - 1) < 0.1
    assert 1.0 < expected_rms < 2.0  # Simard et al.'s alpha 34, sigma 4: about 1.4 px
    # smooth: neighbouring pixels move together; far apart they move independently
    near = np.corrcoef(f[:, 0, 13, 13], f[:, 0, 13, 14])[0, 1]
    far = np.corrcoef(f[:, 0, 13, 2], f[:, 0, 13, 25])[0, 1]
    assert near > 0.9 and abs(far) < 0.2
    half = elastic_fields(5, np.random.default_rng(3), alpha=17)
    assert np.allclose(2 * half, elastic_fields(5, np.random.default_rng(3), alpha=34),
                       atol=1e-5)


def test_sampler_matches_ndimage_map_coordinates_at_any_points(digits):
    """The fast path against the library: an affine map plus an elastic field, every sample
    read by one map_coordinates call."""
    imgs = digits.reshape(-1, 28, 28)
    rng = np.random.default_rng(4)
    M = random_affines(len(imgs), rng, max_shift=3, max_rotate=20, scale=(0.8, 1.2),
                       max_slant=20)
    field = elastic_fields(len(imgs), rng, alpha=40)
    fast = apply_affines(imgs, M, field)
    grid = np.mgrid[0:28, 0:28].reshape(2, 784)
    ref = np.stack([
        ndimage.map_coordinates(im.astype(np.float64), m[:, :2] @ (grid + d) + m[:, 2:],
                                order=1, mode="grid-constant", cval=0.0).reshape(28, 28)
        for im, m, d in zip(imgs, M, field.astype(np.float64))
    ])
    assert np.abs(fast - ref).max() < 1e-4
    assert np.array_equal(apply_affines(imgs, M, np.zeros_like(field)), apply_affines(imgs, M))
    # whole-pixel source points are read exactly
    src = np.broadcast_to(grid[None].astype(np.float32), (len(imgs), 2, 784))
    assert np.array_equal(sample(imgs, src), imgs)


def test_elastic_bends_a_digit_without_moving_it(digits):
    out = augment_batch(digits, np.random.default_rng(8), **{**NOTHING, "elastic": 34})
    assert not np.allclose(out, digits)
    per_sample = np.abs(out - digits).reshape(len(digits), -1).max(1)
    assert np.all(per_sample > 0.05)  # every digit bent
    c_in = np.array([ndimage.center_of_mass(d) for d in digits.reshape(-1, 28, 28)])
    c_out = np.array([ndimage.center_of_mass(d) for d in out.reshape(-1, 28, 28)])
    # bent in place: the centre moves about as much as the field (1.4 px RMS), with no drift
    assert np.median(np.abs(c_out - c_in)) < 1.5 and np.abs(c_out - c_in).max() < 4
    assert np.all(np.abs((c_out - c_in).mean(0)) < 0.6)
    # stretched here, squeezed there: the ink changes with the field's divergence, a little
    change = np.abs(out.sum(1) / digits.sum(1) - 1)
    assert np.median(change) < 0.2 and change.max() < 0.6


# ---------------------------------------------------------------- stroke width


def _ink_area(imgs):
    return (imgs.reshape(len(imgs), -1) > 0.5).sum(1)


def test_stroke_width_changes_the_ink_area(digits):
    imgs = digits.reshape(-1, 28, 28)
    n = len(imgs)
    area = _ink_area(imgs)
    thick = change_thickness(imgs, np.ones(n))
    thin = change_thickness(imgs, -np.ones(n))
    assert np.all(_ink_area(thick) > 1.2 * area)  # a 3x3 cross adds a pixel each side
    assert np.all(_ink_area(thin) < 0.8 * area)
    assert np.allclose(thin, ndimage.grey_erosion(imgs, footprint=CROSS[None], mode="constant"))
    half = change_thickness(imgs, np.full(n, 0.5))
    assert np.all((area <= _ink_area(half)) & (_ink_area(half) <= _ink_area(thick)))
    # through augment_batch, with nothing else on: both ways across a batch, by amount
    out = augment_batch(digits, np.random.default_rng(0), **{**NOTHING, "thickness": 1.0})
    ratio = _ink_area(out) / area
    assert ratio.max() > 1.2 and ratio.min() < 0.8
