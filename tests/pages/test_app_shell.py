"""The app shell: app.py routes, limits BLAS and draws the sidebar; ui keeps per-session state
apart from the shared, read-only data; a missing bundled model is handled; uploads that fail
change nothing; caps are enforced."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import numpy as np

import mnist
from tests.app_helpers import (ROOT, app, csv_bytes, idx_pair, model_session_script, no_exception,
                               script)


def test_app_runs_home_with_the_sidebar():
    # the bundled model ships with the app (models/default.npz is in the repository)
    assert (ROOT / "models" / "default.npz").is_file()
    at = app().run()
    no_exception(at)
    assert at.title[0].value == "MNIST Lab"
    side = " ".join(m.value for m in at.sidebar.markdown)
    assert "Current model" in side
    assert "bundled model" in side
    assert at.sidebar.metric[0].label == "Test accuracy"
    assert any("MNIST" in c.value for c in at.sidebar.caption)


def test_app_copes_without_a_bundled_model(tmp_path, monkeypatch):
    from ui import cache

    monkeypatch.setattr(cache, "DEFAULT_MODEL_PATH", tmp_path / "models" / "default.npz")
    monkeypatch.setattr(cache, "CNN_MODEL_PATH", tmp_path / "models" / "cnn.npz")
    at = app().run()
    no_exception(at)
    info = " ".join(i.value for i in at.sidebar.info)
    assert "No bundled model yet" in info
    assert "none yet" in [m.value for m in at.metric]
    assert "models" not in at.session_state or not at.session_state["models"]


def test_model_picker_switches_the_current_model(monkeypatch, tmp_path):
    # (AppTest runs app.py itself only on the first run; later runs go straight to the page,
    # so the session is prepared before the first run)
    from ui import cache
    from ui.session import ModelEntry

    monkeypatch.setattr(cache, "CNN_MODEL_PATH", tmp_path / "cnn.npz")  # the MLP alone

    at = app()
    at.session_state["models"] = {"tiny": ModelEntry(
        "tiny", mnist.MLP((784, 8, 10), seed=1), None, [], dict(test_acc=0.5, test_loss=1.0),
        "trained")}
    at.session_state["current_model"] = "tiny"
    at.run()
    no_exception(at)
    assert "50.00%" in [m.value for m in at.sidebar.metric]
    picker = at.sidebar.selectbox(key="_model_picker")
    assert picker.value == "tiny"
    assert picker.options == ["bundled model", "tiny"]
    picker.set_value("bundled model").run()
    no_exception(at)
    assert at.session_state["current_model"] == "bundled model"


def test_sessions_do_not_share_models_and_shared_data_is_read_only():
    from ui.session import ModelEntry

    a, b = app(), app()
    a.session_state["models"] = {"mine": ModelEntry("mine", mnist.MLP((784, 4, 10)), None,
                                                        [], {}, "trained")}
    a.run()
    b.run()
    assert "mine" in a.session_state["models"]
    assert "mine" not in b.session_state["models"]
    train, test = mnist.load_mnist()
    assert not train.images.flags.writeable and not test.labels.flags.writeable


def _upload_script():
    import streamlit as st

    from ui import data

    if "files" in st.session_state:
        st.session_state["problem"] = data.use_uploaded_data(st.session_state.pop("files"),
                                                             st.session_state.get("use", "train"))
    train, test = data.active_data()
    st.session_state["sizes"] = (len(train), len(test))
    st.write(data.data_description())


def test_bad_data_upload_keeps_the_old_data_and_says_why():
    at = script(_upload_script).run()
    assert at.session_state["sizes"] == (60000, 10000)
    at.session_state["files"] = [("digits.csv", csv_bytes(50))]
    at.run()
    assert at.session_state["problem"] is None
    assert at.session_state["sizes"] == (50, 10000)
    for files, words in [([("junk.csv", b"label,a\n3,x\n")], "junk.csv"),
                         ([("x.bin", b"\x00\x00\x09\x03abcd")], "magic"),
                         ([("a.csv", b"1"), ("b.csv", b"2"), ("c.csv", b"3")], "3 files")]:
        at.session_state["files"] = files
        at.run()
        no_exception(at)
        assert words in at.session_state["problem"]
        assert at.session_state["sizes"] == (50, 10000)  # unchanged


def test_data_upload_forms():
    at = script(_upload_script).run()
    img, lab = idx_pair(100)
    # labels first: the pair is recognised either way round
    at.session_state["files"] = [("train-labels-idx1-ubyte", lab), ("train-images-idx3-ubyte", img)]
    at.session_state["use"] = "both"
    at.run()
    assert at.session_state["problem"] is None
    assert at.session_state["sizes"] == (80, 20)
    at.session_state["files"] = [("digits.csv", csv_bytes(40))]
    at.session_state["use"] = "test"
    at.run()
    assert at.session_state["sizes"] == (60000, 40)
    # unlabeled images cannot be trained or scored on
    at.session_state["files"] = [("train-images-idx3-ubyte", img)]
    at.run()
    assert "no labels" in at.session_state["problem"]
    assert at.session_state["sizes"] == (60000, 40)


def test_bad_model_upload_keeps_the_old_state_good_one_becomes_current(tmp_path):
    at = script(model_session_script).run()
    before = (at.session_state["names"], at.session_state["cur"])
    pickle_like = b"\x80\x04\x95" + b"\x00" * 20
    wrong_shape = tmp_path / "wrong.npz"
    mnist.save_model(mnist.MLP((784, 5, 3)), wrong_shape)
    for name, raw, words in [("junk.npz", b"not a model", "junk.npz"),
                             ("p.npz", pickle_like, "pickle"),
                             ("wrong.npz", wrong_shape.read_bytes(), "784 -> 10")]:
        at.session_state["upload"] = (name, raw)
        at.run()
        no_exception(at)
        assert words in at.session_state["problem"]
        assert (at.session_state["names"], at.session_state["cur"]) == before
    good = tmp_path / "good.npz"
    model = mnist.MLP((784, 6, 10), seed=3)
    mnist.save_model(model, good)
    at.session_state["upload"] = ("good.npz", good.read_bytes())
    at.run()
    assert at.session_state["problem"] is None
    assert at.session_state["cur"] == "uploaded: good.npz"
    entry = at.session_state["models"]["uploaded: good.npz"]
    x = mnist.load_mnist()[1].x(np.arange(20))
    np.testing.assert_array_equal(entry.model.predict_proba(x), model.predict_proba(x))
    assert 0.0 <= entry.metrics["test_acc"] <= 1.0


def _many_models_script():
    import streamlit as st

    import mnist
    from ui import session

    session.models()
    for i in range(st.session_state.get("n_add", 0)):
        model = mnist.MLP((784, 3, 10), seed=i)
        session.add_model(f"m{i}", model, scores=dict(test_acc=0.1, test_loss=2.3))
    st.session_state["names"] = list(session.models())
    st.session_state["cur"] = session.current().name


def test_a_session_keeps_at_most_max_models_and_says_which_it_forgot(monkeypatch, tmp_path):
    from ui import cache, limits, session

    monkeypatch.setattr(cache, "CNN_MODEL_PATH", tmp_path / "cnn.npz")  # one bundled model
    at = script(_many_models_script)
    at.session_state["n_add"] = limits.MAX_SESSION_MODELS + 3
    at.run()
    no_exception(at)
    names = at.session_state["names"]
    assert len(names) == limits.MAX_SESSION_MODELS
    assert session.BUNDLED_NAME in names  # never forgotten, and it takes a place
    n_dropped = limits.MAX_SESSION_MODELS + 3 + 1 - limits.MAX_SESSION_MODELS
    dropped = [f"m{i}" for i in range(n_dropped)]
    assert not set(dropped) & set(names)  # the oldest trained ones went ...
    assert names[-1] == at.session_state["cur"] == f"m{limits.MAX_SESSION_MODELS + 2}"
    evals = at.session_state["evaluations"]
    assert not [k for k in evals if k[0] in dropped]  # ... with their evaluations
    toasts = " ".join(t.value for t in at.toast)
    for name in dropped:
        assert f"**{name}**" in toasts


def _blas_threads_after(code: str) -> dict:
    """Run `code` in a fresh interpreter with no thread settings in its environment; return
    the BLAS thread counts before and after it, and OPENBLAS_NUM_THREADS after it."""
    probe = ("import os, numpy; from threadpoolctl import threadpool_info\n"
             "def blas(): return [i['num_threads'] for i in threadpool_info() "
             "if i['user_api'] == 'blas']\n"
             "before = blas()\n" + code + "\n"
             "print(repr(dict(before=before, after=blas(), "
             "env=os.environ.get('OPENBLAS_NUM_THREADS'))))")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


def test_importing_ui_leaves_blas_threads_alone():
    res = _blas_threads_after("import ui, ui.session, ui.runs")
    assert res["after"] == res["before"] and res["env"] is None, res


def test_the_app_runs_blas_on_one_thread():
    # the server process must not run multi-threaded OpenBLAS next to its own threads: app.py
    # limits it once at start (and the variable covers BLAS libraries loaded later)
    res = _blas_threads_after("from streamlit.testing.v1 import AppTest\n"
                              "AppTest.from_file('app.py', default_timeout=120).run()")
    assert res["after"] and set(res["after"]) == {1}, res
    assert res["env"] == "1", res


def test_sidebar_scores_the_current_model_on_an_uploaded_test_set():
    from ui.session import ModelEntry

    train, test = mnist.load_mnist()
    own_test = test.take(np.arange(50), "my test")
    model = mnist.MLP((784, 8, 10), seed=4)
    at = app()
    at.session_state["models"] = {"m": ModelEntry("m", model, None, [],
                                                  dict(test_acc=0.99, test_loss=0.1),
                                                  "trained")}
    at.session_state["_bundled_removed"] = True
    at.session_state["data_override"] = dict(train=train, test=own_test, name="mine.csv",
                                             use="test", token="t1")
    at.run()
    no_exception(at)
    expected = np.mean(model.predict(own_test.x()) == own_test.y())
    (metric,) = at.sidebar.metric
    assert metric.label == "Test accuracy (your test set)"
    assert metric.value == f"{expected:.2%}"  # scored on the session's data, not MNIST


def _too_big_script():
    import streamlit as st

    import mnist
    from ui import runs

    try:
        runs.start_training(mnist.TrainConfig(hidden=(4096, 4096), epochs=1, subset=100))
        st.session_state["problem"] = None
    except mnist.ConfigError as e:
        st.session_state["problem"] = str(e)
    st.session_state["job"] = runs.training_job()


def test_a_network_too_big_for_the_shared_server_is_refused_before_training():
    from ui import limits

    at = script(_too_big_script).run()
    no_exception(at)
    n = 784 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 10 + 10
    assert n > limits.MAX_TRAIN_PARAMS
    assert f"784-4096-4096-10 has {n:,} weights" in at.session_state["problem"]
    assert at.session_state["job"] is None  # nothing started


def _upload_and_score_script():
    import streamlit as st

    from ui import data, session

    if "files" in st.session_state:
        st.session_state["problem"] = data.use_uploaded_data(st.session_state.pop("files"),
                                                             "test")
    session.evaluation(session.current())
    st.session_state["tokens"] = {k[1] for k in st.session_state.get("evaluations", {})}
    st.session_state["token"] = data.data_token()


def test_scores_on_older_uploads_are_forgotten():
    from ui.session import ModelEntry

    at = script(_upload_and_score_script)
    # a session model (the bundled model's MNIST scores are shared, not kept per session)
    at.session_state["_bundled_removed"] = True
    at.session_state["models"] = {"m": ModelEntry("m", mnist.MLP((784, 4, 10)))}
    at.session_state["current_model"] = "m"
    at.run()
    assert at.session_state["tokens"] == {"mnist"}
    seen = []
    for start in (0, 100, 200):
        at.session_state["files"] = [("digits.csv", csv_bytes(40, start))]
        at.run()
        no_exception(at)
        assert at.session_state["problem"] is None
        seen.append(at.session_state["token"])
        # MNIST's scores (for going back) and the current upload's; not the older uploads'
        assert at.session_state["tokens"] == {"mnist", seen[-1]}
    assert len(set(seen)) == 3


def test_an_uploaded_model_over_the_weight_cap_is_refused(tmp_path, monkeypatch):
    from ui import limits

    monkeypatch.setattr(limits, "MAX_TRAIN_PARAMS", 1000)  # the module object the script uses
    at = script(model_session_script).run()
    before = (at.session_state["names"], at.session_state["cur"])
    path = tmp_path / "big.npz"
    mnist.save_model(mnist.MLP((784, 6, 10)), path)  # 4,780 weights
    at.session_state["upload"] = ("big.npz", path.read_bytes())
    at.run()
    no_exception(at)
    assert "big.npz: 784-6-10 has 4,780 weights" in at.session_state["problem"]
    assert (at.session_state["names"], at.session_state["cur"]) == before


def test_importing_mnist_and_ui_does_not_load_the_drawing_stack():
    """The app imports ui (and mnist) at start-up; scipy.ndimage and Pillow, which only the
    Draw page and augmentation need, are loaded on first use."""
    code = ("import sys, ui, mnist; "
            "assert 'scipy.ndimage' not in sys.modules and 'mnist.drawing' not in sys.modules; "
            "from mnist import preprocess_canvas, augment_batch; "
            "assert preprocess_canvas.__module__ == 'mnist.drawing.normalize'; print('ok')")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def _click_script():
    import streamlit as st

    from ui import widgets

    st.session_state["got"] = [widgets.clicked_index(k) for k in ("a", "b", "c", "d", "e", "f")]


def test_a_clicked_digit_index_from_a_chart_selection():
    """The digit grids (Dataset, Mistakes) put each digit's index in customdata, -1 on empty
    slots; Plotly hands it back as a number or a one-element list."""
    at = script(_click_script)
    sel = lambda *points: {"selection": {"points": list(points)}}  # noqa: E731
    at.session_state["a"] = sel({"customdata": 17})
    at.session_state["b"] = sel({"customdata": [42]})
    at.session_state["c"] = sel({"customdata": -1}, {"customdata": [5]})  # empty slot first
    at.session_state["d"] = sel()
    at.session_state["e"] = {"selection": None}
    at.session_state["f"] = sel({"x": 3, "y": 4})  # a heatmap cell: no customdata
    at.run()
    no_exception(at)
    assert at.session_state["got"] == [17, 42, 5, None, None, None]


def _add_model_script():
    import streamlit as st

    import mnist
    from ui import session

    model = mnist.MLP((784, 4, 10), seed=5)
    scored = session.add_model("a", model)  # scored here, on the session's test set
    given = session.add_model("a", model, "search", scores=dict(test_acc=0.5, test_loss=1.0),
                              scored_on="another upload")
    try:
        session.add_model("b", model, "stolen")
    except ValueError as e:
        st.session_state["refused"] = str(e)
    st.session_state["entries"] = (scored, given)


def test_add_model_builds_scores_and_adds_under_a_unique_name():
    at = script(_add_model_script)
    at.session_state["_bundled_removed"] = True
    at.run()
    no_exception(at)
    scored, given = at.session_state["entries"]
    assert (scored.name, given.name) == ("a", "a (2)")
    assert (scored.source, given.source) == ("trained", "search")
    test = mnist.load_mnist()[1]
    acc = np.mean(scored.model.predict(test.x()) == test.y())
    assert scored.metrics["test_acc"] == acc
    assert given.metrics == dict(test_acc=0.5, test_loss=1.0)
    evals = at.session_state["evaluations"]
    assert evals[("a", "mnist")]["test_acc"] == acc
    assert ("a (2)", "mnist") not in evals  # its scores are on other data: not these
    assert at.session_state["current_model"] == "a (2)"
    assert list(at.session_state["models"]) == ["a", "a (2)"]
    assert "unknown source 'stolen'" in at.session_state["refused"]
