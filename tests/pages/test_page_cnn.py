"""Conv nets and ensembles on the Draw, Inside and Mistakes pages under AppTest: a session
holding a small MLP, a small CNN and their ensemble renders every page without exception and
shows the right things (the CNN's filters and one figure per feature-map row with one image
per channel; an ensemble's members; the bundled MLP, CNN and ensemble beside the current
model on a drawing; the mistakes of a CNN and of an ensemble; an MLP compared with a CNN)."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import mnist
import mnist.analysis as an
from tests.app_helpers import figures, plotly_array
from tests.cnn_helpers import bundled_cnn, install_cnn_session, no_bundled_cnn, small_cnn
from tests.page_helpers import ROOT, comparison_shows, small_model


def _page(name):
    return AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=90)


def _heatmaps(fig):
    return [t for t in fig["data"] if t.get("type") == "heatmap"]


def _title(fig):
    t = fig["layout"].get("title") or {}
    return t.get("text", "") if isinstance(t, dict) else str(t)


# ------------------------------------------------------------------------------ Inside
def test_inside_shows_a_cnns_filters_and_every_feature_map_row():
    at = _page("inside")
    _, cnn, _ = install_cnn_session(at, current="cnn")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    _, test = mnist.load_mnist()
    at.number_input(key="in_index").set_value(3).run()
    assert not at.exception
    figs = figures(at)
    # the first conv layer's filters: one image per filter, its weights
    (filt,) = [f for f in figs if _title(f).startswith("First conv layer")]
    W = an.conv_filters(cnn)
    hm = _heatmaps(filt)
    assert len(hm) == len(W) == 4
    for o, t in enumerate(hm):
        np.testing.assert_allclose(plotly_array(t["z"]), W[o, 0], rtol=1e-6)
    # every conv layer after its activation and every pooling: one figure each, one image
    # per channel holding that channel's map (the model's own forward)
    stages = an.feature_maps(cnn, test.x([3]))
    rows = [f for f in figs if _title(f).startswith(("conv ", "pool "))]
    assert [_title(f).split(":")[0] for f in rows] == ["conv 1", "pool 1", "conv 2", "pool 2"]
    for fig, stage in zip(rows, stages):
        maps = stage["maps"][0]
        hm = _heatmaps(fig)
        assert len(hm) == len(maps)  # one image per channel
        for c, t in enumerate(hm):
            np.testing.assert_allclose(plotly_array(t["z"]), maps[c], rtol=1e-5, atol=1e-6)
        assert fig["layout"]["coloraxis"]["colorbar"]["title"]["text"] == "activation"
    captions = " ".join(c.value for c in at.caption)
    for stage in stages:
        assert stage["caption"] in captions  # what each row is
    # the Dense head and the output as for an MLP
    strips = [f for f in figs if any(t.get("type") == "bar" for t in f["data"])][0]
    expect = cnn.predict_proba(test.x([3]))[0]
    np.testing.assert_allclose(plotly_array(strips["data"][-1]["y"]), expect, rtol=1e-5)
    assert [m.value for m in at.metric] == [str(int(expect.argmax()))]
    assert "conv4k5" in at.caption[0].value and "4,0" not in at.caption[0].value
    # no MLP weight tiles for a conv net
    assert not any(_title(f).startswith("First-layer weights") for f in figs)


def test_inside_follows_the_drawing_through_a_cnn():
    at = _page("inside")
    _, cnn, _ = install_cnn_session(at, current="cnn")
    drawing = an.read_drawing(cnn, *an.synthetic_drawing("7"))["image"]
    at.session_state["drawing_image"] = drawing
    at.run()
    at.radio(key="in_source").set_value("my drawing (Draw page)").run()
    assert not at.exception
    stages = an.feature_maps(cnn, drawing.reshape(1, -1))
    rows = [f for f in figures(at) if _title(f).startswith("conv 2")]
    np.testing.assert_allclose(plotly_array(_heatmaps(rows[0])[5]["z"]), stages[2]["maps"][0, 5],
                               rtol=1e-5, atol=1e-6)


def test_inside_an_ensemble_shows_its_members_choice_and_one_member():
    at = _page("inside")
    mlp, cnn, ens = install_cnn_session(at, current="ensemble")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    pick = at.selectbox(key="in_member")
    assert pick.options == ["mlp (784-32-10)", "cnn (conv4k5-pool-conv8k3-pool-32)"]
    # member 0, the MLP: its weight tiles
    assert any(_title(f).startswith("First-layer weights") for f in figures(at))
    _, test = mnist.load_mnist()
    x = test.x([0])
    (table,) = [d.value for d in at.dataframe if "Reads" in d.value.columns]
    assert list(table["Model"]) == ["mlp", "cnn", "ensemble (mean)"]
    assert list(table["Reads"]) == [int(m.predict(x)[0]) for m in (mlp, cnn, ens)]
    np.testing.assert_allclose(table["Probabilities"][2], ens.predict_proba(x)[0], atol=1e-4)
    # member 1, the CNN: its filters and feature maps
    at.selectbox(key="in_member").set_value(1).run()
    assert not at.exception
    titles = [_title(f) for f in figures(at)]
    assert any(t.startswith("First conv layer") for t in titles)
    assert sum(t.startswith(("conv ", "pool ")) for t in titles) == 4
    assert "member **cnn**" in at.caption[0].value


# ------------------------------------------------------------------------------ Draw
def _draw(at, digit):
    at.session_state["draw_test_drawing"] = an.synthetic_drawing(digit)
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def _comparison(at):
    (table,) = [d.value for d in at.dataframe if "Reads" in d.value.columns]
    return table


@pytest.mark.parametrize("current", ["cnn", "ensemble"])
def test_draw_shows_the_bundled_mlp_cnn_and_ensemble_beside_the_current_model(
        current, monkeypatch, tmp_path):
    from ui import cache

    bundled_cnn(monkeypatch, tmp_path, seed=1)  # another small CNN as "the bundled CNN"
    at = _page("draw")
    mlp, cnn, ens = install_cnn_session(at, current=current)
    _draw(at, "1")
    image = at.session_state["drawing_image"]
    x = image.reshape(1, -1)
    mine = {"cnn": cnn, "ensemble": ens}[current]
    assert [m.value for m in at.metric if m.label == "Prediction"] == [str(mine.predict(x)[0])]
    table = _comparison(at)
    assert list(table["Model"]) == [f"{current} (current)", "bundled MLP",
                                    "bundled CNN", "MLP + CNN ensemble"]
    b_mlp, b_cnn = cache.default_model(), cache.cnn_model()
    pair = mnist.Ensemble([b_mlp, b_cnn])
    expect = [mine, b_mlp, b_cnn, pair]
    assert list(table["Reads"]) == [int(m.predict(x)[0]) for m in expect]
    for got, m in zip(table["Probabilities"], expect):
        np.testing.assert_allclose(got, m.predict_proba(x)[0], atol=1e-4)
    np.testing.assert_allclose(table["Sure"], [m.predict_proba(x)[0].max() for m in expect],
                               rtol=1e-4)
    assert b_cnn.spec == "conv4k5-pool-conv8k3-pool-32"
    assert list(table["Architecture"])[1:3] == ["784-128-64-10", b_cnn.spec]
    # the saliency of the current model (a CNN, or the ensemble through both members)
    at.session_state["draw_exp_saliency"] = True
    at.run()
    assert not at.exception
    if current == "ensemble":  # an ensemble is not trained: its members are
        at.button(key="draw_add").click().run()
        assert at.button(key="draw_tune").disabled


def test_draw_without_a_bundled_cnn_says_so(monkeypatch, tmp_path):
    no_bundled_cnn(monkeypatch, tmp_path)
    at = _page("draw")
    install_cnn_session(at, current="cnn")
    _draw(at, "0")
    table = _comparison(at)
    assert list(table["Model"]) == ["cnn (current)", "bundled MLP"]
    assert any("models/cnn.npz) is not installed" in c.value for c in at.caption)


def test_draw_with_the_bundled_mlp_current_does_not_repeat_it(monkeypatch, tmp_path):
    bundled_cnn(monkeypatch, tmp_path)
    at = _page("draw")
    at.run()  # the bundled models join the session (the MLP current)
    at.session_state["draw_test_drawing"] = an.synthetic_drawing("7")
    at.run()
    assert not at.exception
    assert list(at.session_state["models"])[:2] == ["bundled model", "bundled CNN"]
    assert list(_comparison(at)["Model"]) == ["bundled MLP (current)", "bundled CNN",
                                             "MLP + CNN ensemble"]


# ------------------------------------------------------------------------------ Mistakes
def _gallery(fig):
    (digits,) = [t for t in fig["data"] if t.get("name") == "digits"]
    return [int(v) for v in plotly_array(digits["customdata"]).ravel()]


@pytest.mark.parametrize("current", ["cnn", "ensemble"])
def test_mistakes_of_a_cnn_and_of_an_ensemble(current):
    at = _page("mistakes")
    mlp, cnn, ens = install_cnn_session(at, current=current)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    _, test = mnist.load_mnist()
    model = {"cnn": cnn, "ensemble": ens}[current]
    probs = model.predict_proba(test.x())
    y, pred = test.y(), probs.argmax(1)
    wrong = [i for i in range(len(y)) if pred[i] != y[i]]
    ref = sorted(wrong, key=lambda i: (-float(probs[i, pred[i]]), i))[:40]
    assert _gallery(figures(at)[1]) == ref
    assert f"{len(wrong):,} of 10,000 test digits wrong" in at.caption[0].value


def test_mistakes_compares_an_mlp_with_a_cnn():
    at = _page("mistakes")
    mlp, cnn, _ = install_cnn_session(at, current="cnn")
    at.run()
    at.selectbox(key="mk_a").set_value("mlp")
    at.selectbox(key="mk_b").set_value("cnn").run()
    assert not at.exception
    _, test = mnist.load_mnist()
    y = test.y()
    fixed, introduced = comparison_shows(at, mlp.predict(test.x()), cnn.predict(test.x()), y)
    grids = [f for f in figures(at) if any(t.get("name") == "digits" for t in f["data"])]
    assert _gallery(grids[-2]) == fixed[:40]
    assert _gallery(grids[-1]) == introduced[:40]
    assert ("A: `784-32-10` · B: `conv4k5-pool-conv8k3-pool-32`"
            in " ".join(c.value for c in at.caption))
    assert small_model(0)[0] is mlp and small_cnn(0)[0] is cnn


# ------------------------------------------------------------------------------ every page
@pytest.mark.parametrize("current", ["cnn", "ensemble"])
@pytest.mark.parametrize("name", ["home", "dataset", "train", "search"])
def test_the_other_pages_take_a_cnn_or_an_ensemble_as_the_current_model(name, current):
    at = _page(name)
    install_cnn_session(at, current=current)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
