"""mnist.drawing.strokes: the canvas's fabric.js paths read (never crashing on junk), placed
where fabric draws them, and preferred to the pixels only when they describe the whole drawing."""

import json

import numpy as np
import pytest

from mnist.drawing.normalize import preprocess_canvas
from mnist.drawing.strokes import parse_strokes
from tests.drawing.drawings import MODEL, check_mnist_like, corr, draw, fabric_json, paths


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
