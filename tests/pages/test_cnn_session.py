"""Conv nets and ensembles as session models: the bundled CNN joins next to the bundled MLP
(and only when its file is there), a CNN file and an ensemble file upload, the sidebar makes
an ensemble of the session's models (members named, configured and scored as save_model
keeps them; the shared bundled model untouched) and its download keeps the members."""

from __future__ import annotations

import io

import numpy as np

import mnist
from mnist.training.metrics import score
from tests.app_helpers import ROOT, model_session_script, no_exception, script
from tests.cnn_helpers import (bundled_cnn, cnn_file_bytes, install_cnn_session, no_bundled_cnn,
                               small_cnn)
from tests.page_helpers import small_model


def test_the_bundled_cnn_joins_after_the_bundled_mlp_when_it_is_there(monkeypatch, tmp_path):
    from ui import cache

    no_bundled_cnn(monkeypatch, tmp_path)
    at = script(model_session_script, describe=True).run()
    no_exception(at)
    assert at.session_state["names"] == ["bundled model"]
    bundled_cnn(monkeypatch, tmp_path)
    at = script(model_session_script, describe=True).run()
    no_exception(at)
    assert at.session_state["names"] == ["bundled model", "bundled CNN"]
    assert at.session_state["cur"] == "bundled model"  # the MLP stays the first choice
    entry = at.session_state["models"]["bundled CNN"]
    assert entry.model is cache.cnn_model() and entry.source == "bundled"
    assert entry.kind == "cnn" and entry.architecture == "conv4k5-pool-conv8k3-pool-32"
    assert entry.config is not None and entry.config.layers == entry.architecture
    sc = score(small_cnn(0)[0], mnist.load_mnist()[1])
    assert entry.metrics["test_acc"] == sc["test_acc"]  # saved with the file
    at.session_state["current_model"] = "bundled CNN"
    at.run()
    assert at.session_state["acc"] == sc["test_acc"]  # the shared, once-per-server score
    assert cache.cnn_score()["test_acc"] == sc["test_acc"]
    # a session that had only the MLP gets the CNN too when its file appears
    no_bundled_cnn(monkeypatch, tmp_path)
    at = script(model_session_script, describe=True).run()
    bundled_cnn(monkeypatch, tmp_path)
    at.run()
    assert at.session_state["names"] == ["bundled model", "bundled CNN"]


def test_a_cnn_file_and_an_ensemble_file_upload(monkeypatch, tmp_path):
    no_bundled_cnn(monkeypatch, tmp_path)
    at = script(model_session_script, describe=True).run()
    cnn = small_cnn(0)[0]
    at.session_state["upload"] = ("cnn.npz", cnn_file_bytes(0))
    at.run()
    no_exception(at)
    assert at.session_state["problem"] is None
    assert at.session_state["cur"] == "uploaded: cnn.npz"
    kind, arch, desc, members = at.session_state["described"]
    assert (kind, arch, members) == ("cnn", "conv4k5-pool-conv8k3-pool-32", [])
    assert "relu" in desc and "adam" in desc
    _, test = mnist.load_mnist()
    x = test.x(np.arange(50))
    entry = at.session_state["models"]["uploaded: cnn.npz"]
    np.testing.assert_array_equal(entry.model.predict_proba(x), cnn.predict_proba(x))
    assert at.session_state["acc"] == score(cnn, test)["test_acc"]

    mlp = small_model(0)[0]
    ens = mnist.Ensemble([mlp, cnn], names=["the mlp", "the cnn"])
    buf = io.BytesIO()
    mnist.save_model(ens, buf)
    at.session_state["upload"] = ("pair.npz", buf.getvalue())
    at.run()
    no_exception(at)
    assert at.session_state["problem"] is None
    assert at.session_state["cur"] == "uploaded: pair.npz"
    kind, arch, desc, members = at.session_state["described"]
    assert kind == "ensemble"
    assert arch == "784-32-10 + conv4k5-pool-conv8k3-pool-32"
    assert "mean of 2 models' probabilities" in desc
    assert [m["name"] for m in members] == ["the mlp", "the cnn"]
    assert [m["kind"] for m in members] == ["mlp", "cnn"]
    entry = at.session_state["models"]["uploaded: pair.npz"]
    np.testing.assert_allclose(entry.model.predict_proba(x), ens.predict_proba(x), rtol=1e-6)
    assert at.session_state["acc"] == score(ens, test)["test_acc"]
    # an ensemble of networks that do not read MNIST is refused, nothing changes
    bad = mnist.Ensemble([mnist.MLP((784, 4, 3)), mnist.MLP((784, 5, 3))])
    buf = io.BytesIO()
    mnist.save_model(bad, buf)
    before = at.session_state["names"]
    at.session_state["upload"] = ("bad.npz", buf.getvalue())
    at.run()
    assert "784 -> 10" in at.session_state["problem"]
    assert at.session_state["names"] == before


def test_uploading_through_the_train_page(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    no_bundled_cnn(monkeypatch, tmp_path)
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=90)
    at.session_state["_bundled_removed"] = True
    at.run()
    no_exception(at)
    for name, raw, kind in [("cnn.npz", cnn_file_bytes(0), "cnn"),
                            ("pair.npz", _pair_bytes(), "ensemble")]:
        up = [u for u in at.get("file_uploader") if u.proto.label.startswith("Model (.npz")][0]
        up.set_value((name, raw, "application/octet-stream"))
        at.run()
        at.button(key="_tr_use_model").click().run()
        no_exception(at)
        assert at.session_state["current_model"] == f"uploaded: {name}"
        assert at.session_state["models"][f"uploaded: {name}"].kind == kind
        assert not at.error
        # an ensemble is not trained (its members are): nothing to resume
        assert at.button(key="_tr_resume").disabled == (kind == "ensemble")


def _pair_bytes() -> bytes:
    ens = mnist.Ensemble([small_model(0)[0], small_cnn(0)[0]], names=["mlp", "cnn"])
    buf = io.BytesIO()
    mnist.save_model(ens, buf)
    return buf.getvalue()


# ------------------------------------------------------------------------------ the sidebar
def _sidebar_script():
    import streamlit as st

    from ui import session, sidebar

    sidebar.draw()
    cur = session.current()
    st.session_state["cur"] = cur.name
    if st.session_state.get("download"):
        st.session_state["file"] = session.model_file_bytes(cur)


def test_the_sidebar_makes_an_ensemble_that_keeps_its_members(monkeypatch, tmp_path):
    from ui import cache

    no_bundled_cnn(monkeypatch, tmp_path)
    at = script(_sidebar_script)
    mlp, cnn, _ = install_cnn_session(at, current="cnn")
    del at.session_state["_bundled_removed"]  # the bundled MLP too
    at.run()
    no_exception(at)
    names = at.session_state["models"]
    assert list(names) == ["bundled model", "mlp", "cnn", "ensemble"]
    at.sidebar.button(key="ens_make").click().run()  # nothing chosen yet
    assert [e.value for e in at.sidebar.error] == ["an ensemble needs at least two different "
                                                   "models"]
    assert at.session_state["cur"] == "cnn"
    at.sidebar.multiselect(key="_ens_members").set_value(["bundled model", "cnn"])  # in a form: with
    at.sidebar.button(key="ens_make").click().run()  # the click
    no_exception(at)
    made = "ensemble: bundled model + cnn"
    assert at.session_state["cur"] == made
    entry = at.session_state["models"][made]
    assert entry.source == "ensemble" and entry.kind == "ensemble"
    assert entry.model.names == ["bundled model", "cnn"]
    assert entry.model.members[0].layers is cache.default_model().layers  # shared, not copied
    assert entry.model.members[1].layers is cnn.layers
    assert "name" not in cache.default_model().meta  # the shared model is not written to
    assert "name" not in cnn.meta
    _, test = mnist.load_mnist()
    want = score(mnist.Ensemble([cache.default_model(), cnn]), test)
    assert entry.metrics["test_acc"] == want["test_acc"]
    # the sidebar shows it: its accuracy and its members
    assert f"{want['test_acc']:.2%}" in [m.value for m in at.sidebar.metric]
    side = " ".join(m.value for m in at.sidebar.markdown)
    assert "Members (2" in side and "bundled model (`784-128-64-10`" in side
    assert "cnn (`conv4k5-pool-conv8k3-pool-32`" in side
    assert at.sidebar.multiselect(key="_ens_members").value == []
    # an ensemble among the chosen adds its members (no nesting, no duplicates)
    at.sidebar.multiselect(key="_ens_members").set_value([made, "mlp", "cnn"])  # in a form: with
    at.sidebar.button(key="ens_make").click().run()  # the click
    no_exception(at)
    entry2 = at.session_state["models"][at.session_state["cur"]]
    assert entry2.model.names == [f"{made} / bundled model", f"{made} / cnn", "mlp"]
    # the download keeps the members: names, configs and scores
    at.session_state["current_model"] = made
    at.session_state["download"] = True
    at.run()
    back = mnist.load_model(at.session_state["file"])
    assert back.kind == "ensemble" and back.names == ["bundled model", "cnn"]
    assert back.members[1].meta["config"] == small_cnn(0)[1].to_dict()
    bundled_cfg = mnist.TrainConfig.from_dict(cache.default_model().meta["config"])
    assert back.members[0].meta["config"] == bundled_cfg.to_dict()
    assert back.members[1].meta["metrics"]["test_acc"] == 0.0  # the entry's (a test's 0.0)
    x = test.x(np.arange(100))
    np.testing.assert_allclose(back.predict_proba(x), entry.model.predict_proba(x), rtol=1e-6)
    assert mlp is small_model(0)[0]
