"""The Draw page under AppTest: a drawing fed through session state gives a prediction, an
empty canvas gives none, Clear empties it, and "my digits" can be added and fine-tuned on."""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import mnist.analysis as an
from tests.page_helpers import ROOT, install_model

PAGE = str(ROOT / "pages" / "draw.py")


def _app():
    at = AppTest.from_file(PAGE, default_timeout=60)
    install_model(at)
    return at


def _metric_value(at, label):
    vals = [m.value for m in at.metric if m.label == label]
    return vals[0] if vals else None


def test_empty_canvas_shows_no_prediction():
    at = _app().run()
    assert not at.exception
    assert _metric_value(at, "Prediction") is None
    assert any("Draw a digit" in i.value for i in at.info)
    assert not at.get("plotly_chart")


@pytest.mark.parametrize("digit", ["1", "0", "7"])
def test_drawing_through_test_hook_is_predicted(digit):
    at = _app()
    at.session_state["draw_test_drawing"] = an.synthetic_drawing(digit)
    at.run()
    assert not at.exception
    assert _metric_value(at, "Prediction") == digit
    img = at.session_state["drawing_image"]  # shared with the Inside page
    assert img.shape == (28, 28) and img.max() > 0.5
    assert at.get("plotly_chart")  # probability bars
    assert [e.label for e in at.expander][:2] == [
        "How the drawing becomes 28x28, and what a naive resize would do",
        "Saliency: which pixels pushed the prediction"]
    n_images = len(at.image)
    assert len(at.get("plotly_chart")) == 1  # closed expanders compute nothing
    # open both (lazy) expanders: the pipeline's steps, the naive resize and the saliency
    at.session_state["draw_exp_pipeline"] = True
    at.session_state["draw_exp_saliency"] = True
    at.run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2  # + what the naive resize reads
    assert len(at.image) >= n_images + 5 + 1 + 1  # steps, naive, saliency
    # Clear: no prediction any more, and a new (empty) canvas key
    at.button(key="draw_clear").click().run()
    assert _metric_value(at, "Prediction") is None
    assert at.session_state["draw_canvas_n"] == 1
    assert "drawing_image" not in at.session_state


def test_canvas_value_in_session_state_is_read():
    """The canvas component's own value under its key (as a browser would send it)."""
    import base64
    import io

    from PIL import Image

    rgba, strokes = an.synthetic_drawing("1")
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    at = _app()
    at.session_state["draw_canvas_0"] = {"drawing": {"raw": strokes, "data": url},
                                         "backgroundFit": None}
    at.run()
    assert not at.exception
    assert _metric_value(at, "Prediction") == "1"


def test_teach_my_digits_and_fine_tune():
    at = _app()
    at.session_state["draw_test_drawing"] = an.synthetic_drawing("7")
    at.run()
    at.selectbox(key="draw_label").set_value(3).run()  # "it is a 3, really"
    at.button(key="draw_add").click().run()
    at.button(key="draw_add").click().run()
    mine = at.session_state["my_digits"]
    assert mine["y"] == [3, 3] and mine["x"][0].dtype == np.uint8
    assert mine["x"][0].shape == (28, 28)
    assert any(m.label.endswith("on your digits") for m in at.metric)
    at.button(key="draw_tune").click().run()
    assert not at.exception
    models = at.session_state["models"]
    tuned = [e for e in models.values() if e.source == "fine-tuned"]
    assert len(tuned) == 1
    assert at.session_state["current_model"] == tuned[0].name
    # the fine-tuned model now reads this drawing as a 3 (it was taught so, 10 times over)
    assert _metric_value(at, "Prediction") == "3"


def test_low_confidence_says_not_sure():
    """A network whose output barely depends on the input (tiny weights, one strong bias for
    4 and a slightly weaker one for 9) is unsure between 4 and 9 whatever is drawn."""
    from mnist import MLP
    from ui.session import ModelEntry

    model = MLP((784, 8, 10), seed=0)
    state = {k: v * 1e-4 for k, v in model.state_dict().items()}
    state["1.b"] = np.zeros(10, np.float32)
    state["1.b"][4], state["1.b"][9] = 2.0, 1.8
    model.load_state_dict(state)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["models"] = {"unsure": ModelEntry("unsure", model, source="trained")}
    at.session_state["current_model"] = "unsure"
    at.session_state["_bundled_removed"] = True
    at.session_state["draw_test_drawing"] = an.synthetic_drawing("7")
    at.run()
    assert not at.exception
    assert _metric_value(at, "Prediction") == "4"
    assert [w.value for w in at.warning] == ["Not sure: 4 or 9?"]


def test_my_digits_are_capped_and_an_upload_past_the_cap_adds_nothing():
    at = _app()
    at.run()
    cap = 2000
    at.session_state["my_digits"] = {"x": [np.zeros((28, 28), np.uint8)] * (cap - 3),
                                     "y": [1] * (cap - 3)}
    at.run()
    blob = an.my_digits_npz(np.zeros((5, 28, 28), np.uint8), np.arange(5))
    up = [u for u in at.get("file_uploader") if u.proto.label.startswith("Load my digits")][0]
    up.set_value(("five.npz", blob, "application/octet-stream"))
    at.run()
    assert not at.exception
    assert any("five.npz" in e.value and "at most 2000" in e.value for e in at.error)
    assert len(at.session_state["my_digits"]["y"]) == cap - 3  # nothing added
    blob = an.my_digits_npz(np.zeros((3, 28, 28), np.uint8), np.arange(3))
    up = [u for u in at.get("file_uploader") if u.proto.label.startswith("Load my digits")][0]
    up.set_value(("three.npz", blob, "application/octet-stream"))
    at.run()
    assert len(at.session_state["my_digits"]["y"]) == cap  # exactly full now


def test_after_fine_tuning_only_digits_it_did_not_train_on_count():
    """A fine-tuned model reads the digits it trained on back almost perfectly ("100% on your
    digits"); the page reports the cross-validated figure instead, and the digits added
    since separately."""
    import mnist
    from mnist.analysis.mydigits import held_out_accuracy

    train, test = mnist.load_mnist()
    xs, ys = test.images[:8], test.labels[:8].astype(int)
    at = _app()
    model = at.session_state["models"]["test model"].model
    at.session_state["my_digits"] = {"x": list(xs), "y": list(ys)}
    at.run()
    assert [m.label for m in at.metric] == ["test model on your digits"]
    at.button(key="draw_tune").click().run()
    assert not at.exception
    held = held_out_accuracy(model, xs, ys, train)  # the same fine-tunes, made again
    assert held["folds"] == 5 and held["n"] == 8
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"On your digits it did not train on": f"{held['accuracy']:.0%}"}
    assert any("On the 8 digits it trained on" in c.value for c in at.caption)
    (msg,) = [s.value for s in at.success]
    assert f"did not train on: **{held['accuracy']:.0%}**" in msg
    # a digit drawn after the fine-tune was not trained on: counted on its own
    at.session_state["draw_test_drawing"] = an.synthetic_drawing("1")
    at.run()
    at.selectbox(key="draw_label").set_value(1).run()
    at.button(key="draw_add").click().run()
    assert any("On the 1 digit added since" in c.value for c in at.caption)
