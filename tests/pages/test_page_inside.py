"""The Inside page under AppTest: weight tiles and one digit's activations, for a test digit
and for the Draw page's drawing."""


import numpy as np
from streamlit.testing.v1 import AppTest

import mnist
import mnist.analysis as an
from tests.app_helpers import figures, plotly_array
from tests.page_helpers import ROOT, install_model

PAGE = str(ROOT / "pages" / "inside.py")






def test_inside_runs_for_a_test_digit_and_a_drawing():
    at = AppTest.from_file(PAGE, default_timeout=60)
    model = install_model(at)
    at.run()
    assert not at.exception
    weights, strips, contrib = figures(at)
    z = plotly_array(weights["data"][0]["z"])
    tiles = an.weight_tiles(model)
    np.testing.assert_allclose(z[1:29, 1:29], tiles[0], rtol=1e-6)  # first tile
    _, test = mnist.load_mnist()
    at.number_input(key="in_index").set_value(7).run()
    strips = figures(at)[1]
    expect = model.predict_proba(test.x([7]))[0]
    np.testing.assert_allclose(plotly_array(strips["data"][-1]["y"]), expect, rtol=1e-5)
    assert [m.value for m in at.metric] == [str(int(expect.argmax()))]
    # only a test digit until something is drawn
    assert at.radio(key="in_source").options == ["a test digit"]

    drawing = an.read_drawing(model, *an.synthetic_drawing("1"))["image"]
    at.session_state["drawing_image"] = drawing
    at.run()
    at.radio(key="in_source").set_value("my drawing (Draw page)").run()
    assert not at.exception
    expect = model.predict_proba(drawing.reshape(1, -1))[0]
    np.testing.assert_allclose(plotly_array(figures(at)[1]["data"][-1]["y"]), expect, rtol=1e-5)
