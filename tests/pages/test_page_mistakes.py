"""The Mistakes page under AppTest: the gallery holds exactly the current model's mistakes,
a confusion cell filters it, paging works, and two models can be compared."""


import numpy as np
from streamlit.testing.v1 import AppTest

import mnist
import mnist.analysis as an
from tests.app_helpers import figures, plotly_array
from tests.page_helpers import ROOT, comparison_shows, install_model, small_model

PAGE = str(ROOT / "pages" / "mistakes.py")






def _gallery_indices(fig):
    """The test indices shown in a mistake grid (its clickable markers' customdata)."""
    (digits,) = [t for t in fig["data"] if t.get("name") == "digits"]
    return [int(v) for v in plotly_array(digits["customdata"]).ravel()]


def _truth():
    _, test = mnist.load_mnist()
    model = small_model(0)[0]
    probs = model.predict_proba(test.x())
    return test.y(), probs


def test_gallery_is_the_mistakes_and_a_cell_filters_it():
    y, probs = _truth()
    pred = probs.argmax(1)
    at = AppTest.from_file(PAGE, default_timeout=60)
    install_model(at)
    at.run()
    assert not at.exception
    figs = figures(at)
    shown = _gallery_indices(figs[1])
    # first page = the 40 most confident mistakes (slow reference)
    wrong = [i for i in range(len(y)) if pred[i] != y[i]]
    ref = sorted(wrong, key=lambda i: (-float(probs[i, pred[i]]), i))[:40]
    assert shown == ref
    # the most common confusion, chosen with the two selectors
    cm = mnist.confusion_matrix(y, pred)
    np.fill_diagonal(cm, 0)
    t, p = np.unravel_index(np.argmax(cm), cm.shape)
    at.selectbox(key="mk_true").set_value(int(t))
    at.selectbox(key="mk_pred").set_value(int(p)).run()
    assert not at.exception
    shown = _gallery_indices(figures(at)[1])
    cell = [i for i in wrong if y[i] == t and pred[i] == p]
    assert len(cell) > 0
    assert shown == sorted(cell, key=lambda i: (-float(probs[i, pred[i]]), i))[:40]
    # the selected cell is outlined on the confusion matrix
    shapes = figures(at)[0]["layout"].get("shapes", [])
    assert len(shapes) == 1 and shapes[0]["x0"] == p - 0.5 and shapes[0]["y0"] == t - 0.5
    # sort by index, page 2 of everything
    at.button(key="mk_all").click().run()
    at.selectbox(key="mk_sort").set_value("index").run()
    at.number_input(key="mk_page").set_value(2).run()
    assert _gallery_indices(figures(at)[1]) == wrong[40:80]
    # a digit's probabilities on demand
    at.selectbox(key="mk_digit").set_value(wrong[45]).run()
    bars = figures(at)[2]
    np.testing.assert_allclose(plotly_array(bars["data"][0]["y"]), probs[wrong[45]], rtol=1e-5)


def test_compare_two_models():
    y, probs = _truth()
    at = AppTest.from_file(PAGE, default_timeout=60)
    install_model(at, "A", seed=0)
    install_model(at, "B", seed=1)
    at.run()
    assert not at.exception
    at.selectbox(key="mk_a").set_value("A")
    at.selectbox(key="mk_b").set_value("B").run()
    fixed, introduced = comparison_shows(at, probs.argmax(1),
                                         small_model(1)[0].predict(mnist.load_mnist()[1].x()), y)
    grids = [f for f in figures(at) if any(t.get("name") == "digits" for t in f["data"])]
    assert _gallery_indices(grids[-2]) == fixed[:40]
    assert _gallery_indices(grids[-1]) == introduced[:40]
