"""Tests for mnist.drawing: drawings -> MNIST-like 28x28 images.

Synthetic drawings are made with Pillow's ImageDraw from pen paths on a unit square, both as
pixels (what the canvas returns as image_data) and as fabric.js path objects (its json_data).
"""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

import mnist.drawing as pp
from mnist.drawing import (
    PreprocessError,
    naive_resize,
    parse_strokes,
    pipeline_steps,
    preprocess_canvas,
)

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "default.npz"

# pen paths on a unit square (x right, y down)
SHAPES = {
    "1": [[(0.5, 0.1), (0.5, 0.9)]],
    "7": [[(0.2, 0.15), (0.8, 0.15), (0.45, 0.9)]],
    "4": [[(0.6, 0.1), (0.15, 0.6), (0.85, 0.6)], [(0.6, 0.3), (0.6, 0.9)]],
    "0": [[(0.5 + 0.3 * np.sin(t), 0.5 - 0.4 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 40)]],
    "2": [[(0.22, 0.3), (0.35, 0.14), (0.6, 0.12), (0.75, 0.28), (0.7, 0.45), (0.2, 0.88),
           (0.82, 0.88)]],
}


def paths(digit, size, x0, y0):
    """Pen paths of `digit` scaled to a size x size box at (x0, y0), in canvas px."""
    return [[(x0 + size * x, y0 + size * y) for x, y in p] for p in SHAPES[digit]]


def draw(polys, pen, canvas=280, mode="RGBA"):
    """White round pen on black, like streamlit-drawable-canvas's image_data."""
    im = Image.new("L", (canvas, canvas), 0)
    d = ImageDraw.Draw(im)
    r = pen / 2
    for p in polys:
        d.line([tuple(v) for v in p], fill=255, width=pen, joint="curve")
        for x, y in (p[0], p[-1]):
            d.ellipse((x - r, y - r, x + r, y + r), fill=255)
    g = np.asarray(im)
    if mode == "L":
        return g
    rgba = np.zeros(g.shape + (4,), np.uint8)
    rgba[..., :3] = g[..., None]
    rgba[..., 3] = 255
    return rgba


def fabric_json(polys, pen, stroke="#ffffff", curves=False, kind="Path"):
    """The canvas's json_data for these pen paths (fabric.js paths). curves=True writes
    PencilBrush-style quadratic curves through the midpoints (which round the corners off, so
    they no longer match `draw`); by default straight segments, exactly what `draw` drew."""
    objects = []
    for p in polys:
        p = np.asarray(p, float)
        lo, hi = p.min(0), p.max(0)
        cmds = [["M", *p[0]]]
        if curves:
            for a, b in zip(p[1:-1], p[2:]):
                cmds.append(["Q", *a, *((a + b) / 2)])
        else:
            cmds += [["L", *q] for q in p[1:-1]]
        cmds.append(["L", *p[-1]])
        objects.append({
            "type": kind, "path": [[c[0], *map(float, c[1:])] for c in cmds],
            "stroke": stroke, "strokeWidth": pen, "fill": None,
            "left": float(lo[0] - pen / 2), "top": float(lo[1] - pen / 2),
            "width": float(hi[0] - lo[0]), "height": float(hi[1] - lo[1]),  # without the pen
            "scaleX": 1, "scaleY": 1, "angle": 0, "originX": "left", "originY": "top",
        })
    return {"version": "4.4.0", "objects": objects, "background": "#000000"}


def corr(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def check_mnist_like(img):
    assert img.shape == (28, 28) and img.dtype == np.float32
    assert img.min() >= 0.0 and img.max() <= 1.0
    rows = np.flatnonzero(img.any(1))
    cols = np.flatnonzero(img.any(0))
    assert max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) in (19, 20, 21)
    cy, cx = ndimage.center_of_mass(img)
    assert abs(cy - 14) <= 1.0 and abs(cx - 14) <= 1.0


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
        ink = pp.to_ink(draw(paths("7", 200, 40, 40), pen))
        w = pp.stroke_width(pp._tight_crop(ink))
        assert abs(w - pen) <= 0.15 * pen + 1, (pen, w)


def test_thickness_normalisation_without_strokes_moves_towards_mnist():
    for pen, grows in ((3, True), (45, False)):
        crop = pp._tight_crop(pp.to_ink(draw(paths("7", 200, 40, 40), pen)))
        out, changed = pp._normalise_thickness(crop)
        assert changed
        before = pp.stroke_width(crop) / max(crop.shape)
        after = pp.stroke_width(pp._tight_crop(out)) / max(pp._tight_crop(out).shape)
        assert (after > before) == grows
        assert pp.STROKE_RATIO_LO * 0.8 <= after <= pp.STROKE_RATIO_HI * 1.1


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
    assert pp.to_ink(big).shape[0] <= pp.MAX_SIDE
    assert corr(a, b) > 0.9
    # ink in alpha, processed in strips: every strip must read the same channel as the
    # whole image, even a strip whose alpha happens to be uniform
    ink = np.zeros((1200, 8000), np.uint8)  # wide: strips of a few hundred rows
    ink[:, 3000:4200] = np.asarray(Image.fromarray(small).resize((1200, 1200), Image.NEAREST))
    ink[:400] = 255  # a band of solid ink along the top: uniform alpha in the first strip
    rgba = np.zeros(ink.shape + (4,), np.uint8)
    rgba[..., 3] = ink
    assert np.array_equal(pp.to_ink(rgba) > 0.5, pp.to_ink(ink) > 0.5)


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


# ---------------------------------------------------------------- strokes parsing


@pytest.mark.parametrize("junk", [
    None, "", "not json", "[1, 2]", 42, [], {}, {"objects": "nope"}, {"objects": [None, 3, "x"]},
    {"objects": [{"type": "path"}]},
    {"objects": [{"type": "path", "path": "M 1 2"}]},
    {"objects": [{"type": "path", "path": [["Q", 1, 2]], "left": "a"}]},
    {"objects": [{"type": "path", "path": [["M", float("nan"), 1], ["L", None, 2], [], [3]]}]},
    {"objects": [{"type": "path", "path": [["L", 1, 2], ["M", 1, 2], ["Q", 1, 2, "x", 4]]}]},
    {"objects": [{"type": "path", "path": [["M", -1e308, 0], ["L", 1e308, 5]]}]},
    {"objects": [{"type": "path", "path": [["M", "10", "20"], ["L", "30", "40"]]}]},
    {"objects": [{"type": "path", "path": [["M", 0, 0], ["L", 5, 5]], "scaleX": 1e308,
                  "left": 900, "top": 900, "width": 10, "height": 10}]},
])
def test_parse_strokes_never_crashes(junk):
    rgba = draw(paths("7", 180, 50, 50), 12)
    assert np.array_equal(preprocess_canvas(rgba, strokes=junk), preprocess_canvas(rgba))
    out = parse_strokes(junk)
    assert isinstance(out, list)
    assert all(p.ndim == 2 and p.shape[1] == 2 and np.isfinite(p).all() for p in out)


@pytest.mark.parametrize("junk", [None, "garbage", {"objects": [{"type": "path", "path": []}]},
                                  {"objects": [{"type": "rect", "left": 1}]}])
def test_bad_strokes_fall_back_to_pixels(junk):
    rgba = draw(paths("7", 180, 50, 50), 12)
    assert np.array_equal(preprocess_canvas(rgba, strokes=junk), preprocess_canvas(rgba))


def test_parse_strokes_reads_fabric_paths():
    polys = paths("4", 100, 20, 30)
    data = fabric_json(polys, 10, curves=True)
    out = parse_strokes(data)
    assert len(out) == 2
    for got, want in zip(out, polys):
        want = np.asarray(want)
        assert np.allclose(got[0], want[0]) and np.allclose(got[-1], want[-1])
        assert got.min(0)[0] >= want.min(0)[0] - 1e-9 and got.max(0)[1] <= want.max(0)[1] + 1e-9
    assert all(np.allclose(a, b) for a, b in zip(parse_strokes(json.dumps(data)), out))
    # non-path objects are ignored by the parser...
    data["objects"].append({"type": "circle", "left": 5, "top": 5, "radius": 3})
    assert len(parse_strokes(data)) == 2


def test_strokes_with_other_shapes_or_eraser_use_pixels():
    polys = paths("7", 180, 50, 50)
    rgba = draw(polys, 12)
    raster = preprocess_canvas(rgba)
    data = fabric_json(polys, 12)
    data["objects"].append({"type": "line", "x1": 0, "y1": 0, "x2": 5, "y2": 5})
    assert np.array_equal(preprocess_canvas(rgba, strokes=data), raster)
    erased = fabric_json(polys, 12)
    erased["objects"].append(fabric_json([[(60, 60), (90, 90)]], 12, stroke="#000")["objects"][0])
    assert np.array_equal(preprocess_canvas(rgba, strokes=erased), raster)


def test_moved_path_is_placed_where_fabric_draws_it():
    polys = paths("7", 100, 20, 20)
    data = fabric_json(polys, 10)  # straight segments: its box is exactly fabric's
    obj = data["objects"][0]
    obj["left"] += 50
    obj["top"] += 30
    got = parse_strokes(data)[0]
    want = np.asarray(polys[0])
    assert np.allclose(got[[0, -1]] - want[[0, -1]], [50, 30])
    # fabric 7 style: origin at the centre, left/top = the box's centre
    centred = fabric_json(polys, 10)
    obj = centred["objects"][0]
    obj.update(originX="center", originY="center",
               left=obj["left"] + (obj["width"] + 10) / 2,
               top=obj["top"] + (obj["height"] + 10) / 2)
    assert np.allclose(parse_strokes(centred)[0], want)
    obj["left"] += 7
    assert np.allclose(parse_strokes(centred)[0] - want, [7, 0])
    # scaled 2x about its centre
    scaled = fabric_json(polys, 10)
    obj = scaled["objects"][0]
    obj.update(scaleX=2, scaleY=2, left=obj["left"] - (obj["width"] + 10) / 2,
               top=obj["top"] - (obj["height"] + 10) / 2)
    c = (want.min(0) + want.max(0)) / 2
    assert np.allclose(parse_strokes(scaled)[0], c + 2 * (want - c))


# json_data of a "7" drawn in Chromium on streamlit-drawable-canvas 0.13 (280x280, pen 18, white
# on black): fabric.js 7.4 writes type "Path", origin at the centre, width/height without the pen
REAL_CANVAS_JSON = (
    '{"version": "7.4.0", "background": "#000000", "objects": [{"type": "Path", "version": "7.4'
    '.0", "originX": "center", "originY": "center", "left": 174.6238, "top": 190.009, "width": '
    '49.2837, "height": 80.018, "fill": null, "stroke": "#FFFFFF", "strokeWidth": 18, "strokeLi'
    'neCap": "round", "strokeLineJoin": "round", "scaleX": 1, "scaleY": 1, "angle": 0, "flipX":'
    ' false, "flipY": false, "visible": true, "skewX": 0, "skewY": 0, "path": [["M", 149.982, 1'
    '50], ["Q", 150, 150, 153, 150], ["Q", 156, 150, 159, 150], ["Q", 162, 150, 165, 150], ["Q"'
    ', 168, 150, 171.5, 150], ["Q", 175, 150, 178, 150], ["Q", 181, 150, 184, 150], ["Q", 187, '
    '150, 190, 150], ["Q", 193, 150, 196.5, 150], ["Q", 200, 150, 197.5, 155], ["Q", 195, 160, '
    '193, 165], ["Q", 191, 170, 188.5, 175], ["Q", 186, 180, 184, 185], ["Q", 182, 190, 180, 19'
    '5], ["Q", 178, 200, 175.5, 205], ["Q", 173, 210, 169, 220], ["L", 164.982, 230.018]]}]}'
)


def test_real_canvas_json():
    data = json.loads(REAL_CANVAS_JSON)
    (stroke,) = parse_strokes(data)
    assert np.allclose(stroke[0], (149.982, 150)) and np.allclose(stroke[-1], (164.982, 230.018))
    # the box fabric reports (centre left/top, size without the pen) is where the points are
    obj = data["objects"][0]
    lo, hi = stroke.min(0), stroke.max(0)
    assert np.allclose((lo + hi) / 2, (obj["left"], obj["top"]), atol=0.5)
    assert np.allclose(hi - lo, (obj["width"], obj["height"]), atol=1.0)
    rgba = draw([stroke], 18)  # what the canvas showed
    with_strokes = preprocess_canvas(rgba, strokes=data)
    check_mnist_like(with_strokes)
    assert np.array_equal(with_strokes, preprocess_canvas(None, strokes=data))
    assert corr(with_strokes, preprocess_canvas(rgba)) > 0.9
    if MODEL.exists():
        from mnist import load_model

        assert load_model(MODEL).predict(with_strokes.reshape(1, 784))[0] == 7


@pytest.mark.parametrize("kind", ["Path", "path"])
def test_fabric_6_and_older_type_names_are_both_paths(kind):
    """streamlit-drawable-canvas 0.13 bundles fabric.js 7.4, whose JSON says "Path"."""
    polys = paths("0", 60, 100, 100)
    rescued = preprocess_canvas(draw(polys, 45), strokes=fabric_json(polys, 45, kind=kind))
    assert rescued is not None and rescued[14, 14] < 0.1  # re-rendered: the hole is back
    assert len(parse_strokes(fabric_json(polys, 45, kind=kind))) == 1


def test_strokes_without_image():
    polys = paths("7", 180, 50, 50)
    img = preprocess_canvas(None, strokes=fabric_json(polys, 12))
    check_mnist_like(img)
    assert preprocess_canvas(None, strokes={"objects": []}) is None


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
    if not MODEL.exists():
        pytest.skip("bundled model models/default.npz not there yet")
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
