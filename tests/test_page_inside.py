"""The Inside page under AppTest: weight tiles and one digit's activations, for a test digit
and for the Draw page's drawing."""

import base64
import json

import numpy as np
from streamlit.testing.v1 import AppTest

import mnist
from mnist import analysis as an
from tests.page_helpers import ROOT, install_model

PAGE = str(ROOT / "pages" / "inside.py")


def _arr(v):
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return a.reshape([int(s) for s in str(v["shape"]).split(",")]) if "shape" in v else a
    return np.asarray(v)


def _figures(at):
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_inside_runs_for_a_test_digit_and_a_drawing():
    at = AppTest.from_file(PAGE, default_timeout=60)
    model = install_model(at)
    at.run()
    assert not at.exception
    weights, strips, contrib = _figures(at)
    z = _arr(weights["data"][0]["z"])
    tiles = an.weight_tiles(model)
    np.testing.assert_allclose(z[1:29, 1:29], tiles[0], rtol=1e-6)  # first tile
    _, test = mnist.load_mnist()
    at.number_input(key="in_index").set_value(7).run()
    strips = _figures(at)[1]
    expect = model.predict_proba(test.x([7]))[0]
    np.testing.assert_allclose(_arr(strips["data"][-1]["y"]), expect, rtol=1e-5)
    assert [m.value for m in at.metric] == [str(int(expect.argmax()))]
    # only a test digit until something is drawn
    assert at.radio(key="in_source").options == ["a test digit"]

    drawing = an.read_drawing(model, *an.synthetic_drawing("1"))["image"]
    at.session_state["drawing_image"] = drawing
    at.run()
    at.radio(key="in_source").set_value("my drawing (Draw page)").run()
    assert not at.exception
    expect = model.predict_proba(drawing.reshape(1, -1))[0]
    np.testing.assert_allclose(_arr(_figures(at)[1]["data"][-1]["y"]), expect, rtol=1e-5)
