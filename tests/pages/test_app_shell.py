"""The app shell: app.py routes and draws the sidebar; ui.py keeps per-session state apart from
the shared, read-only data; a missing bundled model is handled; uploads that fail change
nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
from streamlit.testing.v1 import AppTest

import mnist
from tests.app_helpers import ROOT, app, csv_bytes, idx_pair, no_exception, script


def test_app_runs_home_with_the_sidebar():
    at = app().run()
    no_exception(at)
    assert at.title[0].value == "MNIST Lab"
    side = " ".join(m.value for m in at.sidebar.markdown)
    assert "Current model" in side
    if (ROOT / "models" / "default.npz").exists():
        assert "bundled model" in side
        assert at.sidebar.metric[0].label == "Test accuracy"
    assert any("MNIST" in c.value for c in at.sidebar.caption)


def test_app_lists_only_existing_pages_and_copes_without_a_bundled_model(tmp_path,
                                                                         monkeypatch):
    # a copy of the app with only the home page, and no bundled model: it must still run
    import ui

    monkeypatch.setattr(ui, "DEFAULT_MODEL_PATH", tmp_path / "models" / "default.npz")
    shutil.copy(ROOT / "app.py", tmp_path / "app.py")
    (tmp_path / "pages").mkdir()
    shutil.copy(ROOT / "pages" / "home.py", tmp_path / "pages" / "home.py")
    at = AppTest.from_file(str(tmp_path / "app.py"), default_timeout=60).run()
    no_exception(at)
    info = " ".join(i.value for i in at.sidebar.info)
    assert "No bundled model yet" in info
    assert "none yet" in [m.value for m in at.metric]
    soon = [m.value for m in at.markdown if "coming soon" in m.value]
    assert len(soon) == 6  # every step but the home page's own links points to a missing page


def test_model_picker_switches_the_current_model():
    # (AppTest runs app.py itself only on the first run; later runs go straight to the page,
    # so the session is prepared before the first run)
    import ui

    at = app()
    at.session_state["models"] = {"tiny": ui.ModelEntry(
        "tiny", mnist.MLP((784, 8, 10), seed=1), None, [], dict(test_acc=0.5, test_loss=1.0),
        "trained")}
    at.session_state["current_model"] = "tiny"
    at.run()
    no_exception(at)
    assert "50.00%" in [m.value for m in at.sidebar.metric]
    picker = at.sidebar.selectbox(key="_model_picker")
    assert picker.value == "tiny"
    if (ROOT / "models" / "default.npz").exists():
        assert picker.options == ["bundled model", "tiny"]
        picker.set_value("bundled model").run()
        no_exception(at)
        assert at.session_state["current_model"] == "bundled model"


def test_sessions_do_not_share_models_and_shared_data_is_read_only():
    import ui

    a, b = app(), app()
    a.session_state["models"] = {"mine": ui.ModelEntry("mine", mnist.MLP((784, 4, 10)), None,
                                                        [], {}, "trained")}
    a.run()
    b.run()
    assert "mine" in a.session_state["models"]
    assert "mine" not in b.session_state["models"]
    train, test = mnist.load_mnist()
    assert not train.images.flags.writeable and not test.labels.flags.writeable


def _upload_script():
    import streamlit as st

    import ui

    if "files" in st.session_state:
        st.session_state["problem"] = ui.use_uploaded_data(st.session_state.pop("files"),
                                                           st.session_state.get("use", "train"))
    train, test = ui.active_data()
    st.session_state["sizes"] = (len(train), len(test))
    st.write(ui.data_description())


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


def _model_script():
    import streamlit as st

    import ui

    if "upload" in st.session_state:
        name, raw = st.session_state.pop("upload")
        st.session_state["problem"] = ui.use_uploaded_model(name, raw)
    st.session_state["names"] = list(ui.models())
    cur = ui.current()
    st.session_state["cur"] = cur.name if cur else None


def test_bad_model_upload_keeps_the_old_state_good_one_becomes_current(tmp_path):
    at = script(_model_script).run()
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
    import ui

    ui.models()
    for i in range(st.session_state.get("n_add", 0)):
        model = mnist.MLP((784, 3, 10), seed=i)
        ui.add_model(ui.ModelEntry(f"m{i}", model, metrics=dict(test_acc=0.1, test_loss=2.3)),
                     evaluation=dict(test_acc=0.1))
    st.session_state["names"] = list(ui.models())
    st.session_state["cur"] = ui.current().name


def test_a_session_keeps_at_most_max_models_and_says_which_it_forgot():
    import ui

    at = script(_many_models_script)
    at.session_state["n_add"] = ui.MAX_SESSION_MODELS + 3
    at.run()
    no_exception(at)
    names = at.session_state["names"]
    assert len(names) == ui.MAX_SESSION_MODELS
    bundled = ui.BUNDLED_NAME in names
    n_dropped = ui.MAX_SESSION_MODELS + 3 + bundled - ui.MAX_SESSION_MODELS
    dropped = [f"m{i}" for i in range(n_dropped)]
    assert not set(dropped) & set(names)  # the oldest trained ones went ...
    assert names[-1] == at.session_state["cur"] == f"m{ui.MAX_SESSION_MODELS + 2}"
    evals = at.session_state["evaluations"]
    assert not [k for k in evals if k[0] in dropped]  # ... with their evaluations
    toasts = " ".join(t.value for t in at.toast)
    for name in dropped:
        assert f"**{name}**" in toasts


def test_importing_ui_limits_blas_to_one_thread():
    # in a fresh interpreter: the server process (app.py imports ui) must not run
    # multi-threaded OpenBLAS next to its own threads (see ui.py)
    import ast
    import os
    import subprocess
    import sys

    code = ("import ui; from threadpoolctl import threadpool_info; "
            "print([i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'])")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    threads = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    assert threads and set(threads) == {1}, threads


def test_sidebar_scores_the_current_model_on_an_uploaded_test_set():
    import ui

    train, test = mnist.load_mnist()
    own_test = test.take(np.arange(50), "my test")
    model = mnist.MLP((784, 8, 10), seed=4)
    at = app()
    at.session_state["models"] = {"m": ui.ModelEntry("m", model, None, [],
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
    import ui

    try:
        ui.start_training(mnist.TrainConfig(hidden=(4096, 4096), epochs=1, subset=100))
        st.session_state["problem"] = None
    except mnist.ConfigError as e:
        st.session_state["problem"] = str(e)
    st.session_state["job"] = ui.training_job()


def test_a_network_too_big_for_the_shared_server_is_refused_before_training():
    import ui

    at = script(_too_big_script).run()
    no_exception(at)
    n = 784 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 10 + 10
    assert n > ui.MAX_TRAIN_PARAMS
    assert f"784-4096-4096-10 has {n:,} weights" in at.session_state["problem"]
    assert at.session_state["job"] is None  # nothing started


def _upload_and_score_script():
    import streamlit as st

    import ui

    if "files" in st.session_state:
        st.session_state["problem"] = ui.use_uploaded_data(st.session_state.pop("files"),
                                                           "test")
    ui.evaluation(ui.current())
    st.session_state["tokens"] = {k[1] for k in st.session_state.get("evaluations", {})}
    st.session_state["token"] = ui.data_token()


def test_scores_on_older_uploads_are_forgotten():
    import ui

    at = script(_upload_and_score_script)
    # a session model (the bundled model's MNIST scores are shared, not kept per session)
    at.session_state["_bundled_removed"] = True
    at.session_state["models"] = {"m": ui.ModelEntry("m", mnist.MLP((784, 4, 10)))}
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
    import ui

    monkeypatch.setattr(ui, "MAX_TRAIN_PARAMS", 1000)  # the same module object the script uses
    at = script(_model_script).run()
    before = (at.session_state["names"], at.session_state["cur"])
    path = tmp_path / "big.npz"
    mnist.save_model(mnist.MLP((784, 6, 10)), path)  # 4,780 weights
    at.session_state["upload"] = ("big.npz", path.read_bytes())
    at.run()
    no_exception(at)
    assert "big.npz: 4,780 weights" in at.session_state["problem"]
    assert (at.session_state["names"], at.session_state["cur"]) == before


def test_importing_mnist_and_ui_does_not_load_the_drawing_stack():
    """The app imports ui (and mnist) at start-up; scipy.ndimage and Pillow, which only the
    Draw page and augmentation need, are loaded on first use."""
    code = ("import sys, ui, mnist; "
            "assert 'scipy.ndimage' not in sys.modules and 'mnist.drawing' not in sys.modules; "
            "from mnist import preprocess_canvas, augment_batch; "
            "assert preprocess_canvas.__module__ == 'mnist.drawing'; print('ok')")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def _click_script():
    import streamlit as st

    import ui

    st.session_state["got"] = [ui.clicked_index(k) for k in ("a", "b", "c", "d", "e", "f")]


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
