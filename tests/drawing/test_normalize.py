"""mnist.drawing (ink, normalize): drawings -> MNIST-like 28x28 images.

Synthetic drawings (tests/drawing/drawings.py) are made with Pillow's ImageDraw from pen paths
on a unit square, both as pixels (what the canvas returns as image_data) and as fabric.js path
objects (its json_data).
"""

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from mnist.drawing import normalize
from mnist.drawing.ink import (MAX_SIDE, STROKE_RATIO_HI, STROKE_RATIO_LO, stroke_width,
                               tight_crop, to_ink)
from mnist.drawing.normalize import naive_resize, pipeline_steps, preprocess_canvas
from mnist.errors import PreprocessError
from tests.drawing.drawings import MODEL, check_mnist_like, corr, draw, fabric_json, paths


# ---------------------------------------------------------------- size, position, thickness


@pytest.mark.parametrize("digit", ["7", "0", "4", "2"])
def test_small_in_corner_equals_large_in_centre(digit):
    pen = 14  # the same canvas pen: the small digit is relatively much fatter
    small = preprocess_canvas(draw(paths(digit, 70, 8, 10), pen))
    large = preprocess_canvas(draw(paths(digit, 210, 35, 30), pen))
    check_mnist_like(small)
    check_mnist_like(large)
    assert corr(small, large) > 0.9
    assert np.abs(small - large).mean() < 0.08


@pytest.mark.parametrize("digit", ["7", "0", "4"])
def test_strokes_make_small_and_large_alike(digit):
    a = paths(digit, 70, 8, 190)
    b = paths(digit, 220, 30, 25)
    small = preprocess_canvas(draw(a, 14), strokes=fabric_json(a, 14))
    large = preprocess_canvas(draw(b, 14), strokes=fabric_json(b, 14))
    check_mnist_like(small)
    assert corr(small, large) > 0.95


@pytest.mark.parametrize("digit", ["7", "0", "2"])
def test_thin_and_thick_pens_from_strokes_look_alike(digit):
    polys = paths(digit, 180, 50, 50)
    thin = preprocess_canvas(draw(polys, 2), strokes=fabric_json(polys, 2))
    thick = preprocess_canvas(draw(polys, 40), strokes=fabric_json(polys, 40))
    assert corr(thin, thick) > 0.97
    assert np.abs(thin - thick).mean() < 0.03


@pytest.mark.parametrize("digit", ["7", "0", "2", "4"])
def test_thin_and_thick_pens_from_pixels_look_alike(digit):
    polys = paths(digit, 180, 50, 50)
    medium = preprocess_canvas(draw(polys, 14))
    for pen in (2, 36):
        other = preprocess_canvas(draw(polys, pen))
        check_mnist_like(other)
        assert corr(medium, other) > 0.9, pen


def test_stroke_width_estimate_matches_the_pen():
    for pen in (3, 8, 16, 30):
        ink = to_ink(draw(paths("7", 200, 40, 40), pen))
        w = stroke_width(tight_crop(ink))
        assert abs(w - pen) <= 0.15 * pen + 1, (pen, w)


def test_thickness_normalisation_without_strokes_moves_towards_mnist():
    for pen, grows in ((3, True), (45, False)):
        crop = tight_crop(to_ink(draw(paths("7", 200, 40, 40), pen)))
        out, changed = normalize._normalise_thickness(crop)
        assert changed
        before = stroke_width(crop) / max(crop.shape)
        after = stroke_width(tight_crop(out)) / max(tight_crop(out).shape)
        assert (after > before) == grows
        assert STROKE_RATIO_LO * 0.8 <= after <= STROKE_RATIO_HI * 1.1


def test_strokes_rescue_a_pen_so_fat_it_filled_the_hole():
    polys = paths("0", 60, 100, 100)
    fat = draw(polys, 45)  # the ring's hole is gone from the pixels
    normal = preprocess_canvas(draw(polys, 8), strokes=fabric_json(polys, 8))
    rescued = preprocess_canvas(fat, strokes=fabric_json(polys, 45))
    assert corr(rescued, normal) > 0.99
    assert rescued[14, 14] < 0.1  # the hole is back


def test_strokes_and_pixels_agree():
    polys = paths("2", 200, 40, 40)
    rgba = draw(polys, 14)
    with_strokes = preprocess_canvas(rgba, strokes=fabric_json(polys, 14))
    assert corr(preprocess_canvas(rgba), with_strokes) > 0.85


# ---------------------------------------------------------------- shapes that trip naive code


def test_a_one_is_not_stretched_sideways():
    img = preprocess_canvas(draw(paths("1", 200, 40, 40), 10))
    check_mnist_like(img)
    cols = np.flatnonzero(img.max(0) > 0.1)
    assert cols[-1] - cols[0] + 1 <= 6  # a narrow bar, not a 20 px wide block
    rows = np.flatnonzero(img.max(1) > 0.1)
    assert rows[-1] - rows[0] + 1 >= 18


def test_a_one_from_strokes_is_narrow_too():
    polys = paths("1", 200, 40, 40)
    img = preprocess_canvas(draw(polys, 10), strokes=fabric_json(polys, 10))
    cols = np.flatnonzero(img.max(0) > 0.1)
    assert cols[-1] - cols[0] + 1 <= 6


def test_digit_touching_the_border():
    inside = preprocess_canvas(draw(paths("7", 200, 40, 40), 14))
    # the same 7 pushed so far that its pen is cut by the top-left border
    touching = preprocess_canvas(draw(paths("7", 200, -3, -25), 14))
    check_mnist_like(touching)
    assert corr(inside, touching) > 0.85


def test_huge_image_is_downscaled_and_matches_small():
    small = draw(paths("7", 200, 40, 40), 14, mode="L")
    big = np.asarray(Image.fromarray(small).resize((4000, 4000), Image.NEAREST))
    a, b = preprocess_canvas(small), preprocess_canvas(big)
    assert to_ink(big).shape[0] <= MAX_SIDE
    assert corr(a, b) > 0.9
    # ink in alpha, processed in strips: every strip must read the same channel as the
    # whole image, even a strip whose alpha happens to be uniform
    ink = np.zeros((1200, 8000), np.uint8)  # wide: strips of a few hundred rows
    ink[:, 3000:4200] = np.asarray(Image.fromarray(small).resize((1200, 1200), Image.NEAREST))
    ink[:400] = 255  # a band of solid ink along the top: uniform alpha in the first strip
    rgba = np.zeros(ink.shape + (4,), np.uint8)
    rgba[..., 3] = ink
    assert np.array_equal(to_ink(rgba) > 0.5, to_ink(ink) > 0.5)


def test_absurdly_large_image_is_refused_clearly():
    huge = np.broadcast_to(np.uint8(0), (20_000, 20_000))  # no memory behind it
    with pytest.raises(PreprocessError, match="megapixels"):
        preprocess_canvas(huge)


@pytest.mark.parametrize("bad", [
    np.zeros((280, 280, 4), np.float32),
    np.zeros((280, 280), np.int64),
    np.zeros((280, 280), bool),
])
def test_non_uint8_is_a_clear_error(bad):
    with pytest.raises(PreprocessError, match="uint8"):
        preprocess_canvas(bad)
    assert issubclass(PreprocessError, ValueError)


@pytest.mark.parametrize("shape", [(280,), (280, 280, 5), (2, 2, 2, 2), (0, 280)])
def test_bad_shapes_are_clear_errors(shape):
    with pytest.raises(PreprocessError):
        preprocess_canvas(np.zeros(shape, np.uint8))


# ---------------------------------------------------------------- empty canvases


def test_empty_and_near_empty_canvases_give_none():
    black = np.zeros((280, 280, 4), np.uint8)
    black[..., 3] = 255
    assert preprocess_canvas(black) is None  # full-black canvas
    assert preprocess_canvas(np.zeros((280, 280, 4), np.uint8)) is None  # fully transparent
    assert preprocess_canvas(np.full((280, 280), 255, np.uint8)) is None  # blank white paper
    assert preprocess_canvas(np.full((280, 280, 3), 128, np.uint8)) is None  # flat grey
    specks = black.copy()
    specks[100, 100, :3] = 255
    specks[200, 30:32, :3] = 255
    assert preprocess_canvas(specks) is None  # a few stray pixels
    noise = black.copy()
    noise[..., :3] = np.random.default_rng(0).integers(0, 20, (280, 280, 1), dtype=np.uint8)
    assert preprocess_canvas(noise) is None  # faint sensor-like noise
    dot = draw([[(140, 140)]], 20)
    assert preprocess_canvas(dot) is None  # a single click: a dot, no shape
    assert pipeline_steps(black)[-1][0].startswith("input")
    click = [[(140, 140), (141, 141)]]
    assert preprocess_canvas(draw(click, 20), strokes=fabric_json(click, 20)) is None


def test_salt_noise_is_ignored():
    rgba = draw(paths("2", 180, 50, 50), 12)
    clean = preprocess_canvas(rgba)
    rng = np.random.default_rng(0)
    r, c = rng.integers(0, 280, (2, 300))
    rgba[r, c, :3] = 255  # 300 single white pixels all over the canvas
    assert corr(preprocess_canvas(rgba), clean) > 0.98


def test_stray_speck_does_not_shrink_the_digit():
    rgba = draw(paths("7", 150, 60, 60), 12)
    clean = preprocess_canvas(rgba)
    rgba[270:273, 270:273, :3] = 255  # a stray click far away
    assert np.abs(preprocess_canvas(rgba) - clean).max() < 1e-6


# ---------------------------------------------------------------- colours and channels


def test_polarity_and_channels_give_the_same_result():
    g = draw(paths("4", 180, 50, 50), 12, mode="L")
    ref = preprocess_canvas(draw(paths("4", 180, 50, 50), 12))
    rgb = np.repeat(g[..., None], 3, axis=2)
    transparent = np.zeros(g.shape + (4,), np.uint8)
    transparent[..., 3] = g  # black ink on a transparent background: ink is in alpha
    white_ink_transparent = transparent.copy()
    white_ink_transparent[..., :3] = 255
    for name, img in [
        ("grey", g),
        ("rgb", rgb),
        ("black on white", 255 - g),
        ("black on white rgb", 255 - rgb),
        ("transparent", transparent),
        ("white on transparent", white_ink_transparent),
    ]:
        out = preprocess_canvas(img)
        assert out is not None, name
        assert np.abs(out - ref).max() < 1e-5, name


def test_pil_images_in_any_mode():
    g = draw(paths("7", 180, 50, 50), 12, mode="L")
    ref = preprocess_canvas(g)
    im = Image.fromarray(255 - g)  # black on white
    for mode in ("L", "RGB", "RGBA", "P", "1"):
        out = preprocess_canvas(im.convert(mode))
        assert out is not None and corr(out, ref) > 0.97, mode


def test_coloured_pen_on_black_and_dark_ink_on_paper():
    g = draw(paths("7", 180, 50, 50), 12, mode="L")
    ref = preprocess_canvas(g)
    red = np.zeros(g.shape + (3,), np.uint8)
    red[..., 0] = g  # a red pen: dim in luminance, contrast is stretched
    paper = (235 - (g.astype(int) * 200) // 255).astype(np.uint8)  # dark-grey ink on off-white
    assert corr(preprocess_canvas(red), ref) > 0.99
    assert corr(preprocess_canvas(paper), ref) > 0.99


# ---------------------------------------------------------------- steps and naive resize


def test_pipeline_steps_end_with_the_result():
    polys = paths("2", 120, 100, 20)
    rgba = draw(polys, 9)
    for strokes in (None, fabric_json(polys, 9)):
        steps = pipeline_steps(rgba, strokes)
        assert len(steps) == 5
        assert all(isinstance(t, str) and im.dtype == np.float32 for t, im in steps)
        assert steps[0][1].shape == (280, 280)
        assert max(steps[3][1].shape) == 20
        assert np.array_equal(steps[-1][1], preprocess_canvas(rgba, strokes=strokes))


def test_naive_resize_squashes_the_whole_canvas():
    rgba = draw(paths("7", 60, 10, 10), 8)
    naive = naive_resize(rgba)
    assert naive.shape == (28, 28) and naive.dtype == np.float32
    assert 0 <= naive.min() and naive.max() <= 1
    cy, cx = ndimage.center_of_mass(naive)
    assert cy < 8 and cx < 8  # stays small in the corner, unlike preprocess_canvas


# ---------------------------------------------------------------- the real test: MNIST digits


def test_mnist_digits_pasted_into_a_canvas_keep_their_label():
    from mnist import load_model
    from mnist.data.bundled import load_mnist

    model = load_model(MODEL)
    _, test = load_mnist()
    rng = np.random.default_rng(7)
    idx = rng.choice(len(test), 300, replace=False)
    x = test.x(idx)  # (300, 784)
    y = test.y(idx)
    before = model.predict(x)
    canvases = []
    for i, img in zip(idx, test.images[idx]):
        big = np.asarray(Image.fromarray(img).resize((280, 280), Image.BILINEAR))
        canvas = np.zeros((400, 400, 4), np.uint8)
        canvas[..., 3] = 255
        oy, ox = rng.integers(0, 120, 2)
        canvas[oy:oy + 280, ox:ox + 280, :3] = big[..., None]
        canvases.append(preprocess_canvas(canvas).reshape(784))
    after = model.predict(np.stack(canvases))
    assert np.mean(after == before) >= 0.97
    assert np.mean(after == y) >= 0.97
