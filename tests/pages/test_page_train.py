"""The Train page under AppTest: presets fill the form, the learning-rate slider and number
stay in sync, a short run completes through the UI and joins the session's models, Stop keeps
the model, a second Start is refused, a diverged run explains itself, bad settings and bad
model files show their message and change nothing."""

import io
import json

import numpy as np

import mnist
from tests.app_helpers import errors, no_exception, page

WAIT = 120  # seconds a background run may take on a busy machine


def _fill(at, **values):
    for key, v in values.items():
        w = at.session_state  # the form's widgets are keyed tr_*
        kind = {"tr_hidden": "text_input", "tr_full_batch": "checkbox",
                "tr_optimizer": "selectbox", "tr_init": "selectbox"}.get(key, "number_input")
        getattr(at, kind)(key=key).set_value(v)
    at.run()
    no_exception(at)


def _button(at, key):
    return at.button(key=key)


def _small_run(at, **extra):
    _fill(at, tr_hidden="16", tr_subset=500, tr_epochs=1, **extra)
    _button(at, "_tr_start").click().run()
    no_exception(at)
    job = at.session_state["train_job"]
    assert job.wait(WAIT), "the run did not finish"
    at.run()
    no_exception(at)
    return job


def test_presets_fill_the_form_and_learning_rate_widgets_stay_in_sync():
    at = page("train").run()
    no_exception(at)
    presets = at.selectbox(key="tr_preset").options
    assert "tutorial-32-gd" in presets and "default" in presets
    at.selectbox(key="tr_preset").set_value("tutorial-32-gd").run()
    at.button[[b.label for b in at.button].index("Load preset")].click().run()
    no_exception(at)
    s = at.session_state
    assert s["tr_hidden"] == "32" and s["tr_full_batch"] and s["tr_lr"] == 0.1
    assert s["tr_optimizer"] == "sgd" and s["tr_init"] == "uniform" and s["tr_epochs"] == 500
    at.select_slider(key="tr_lr_slider").set_value(0.002).run()
    assert at.session_state["tr_lr"] == 0.002
    at.number_input(key="tr_lr").set_value(0.04).run()
    assert at.session_state["tr_lr_slider"] == 0.05  # nearest step on the log scale
    assert at.session_state["tr_lr"] == 0.04


def test_a_short_run_completes_and_joins_the_session_models():
    at = page("train").run()
    before = set(at.session_state["models"]) if "models" in at.session_state else set()
    job = _small_run(at)
    assert job.status == "done" and job.records[-1]["epoch"] == 1.0
    models = at.session_state["models"]
    new = set(models) - before
    assert len(new) == 1
    name = new.pop()
    assert at.session_state["current_model"] == name
    entry = models[name]
    assert entry.source == "trained" and entry.architecture == "784-16-10"
    assert entry.model is job.model and entry.history == job.records
    labels = {m.label: m.value for m in at.metric}
    assert labels["Test accuracy"] == f"{job.result['test_acc']:.2%}"
    # the results: curves, per class, confusion, softmax outputs, downloads
    assert len(at.get("plotly_chart")) >= 4
    code = [c.value for c in at.code]
    assert any("->" in c for c in code)
    downloads = at.get("download_button")
    assert len(downloads) == 3
    x = mnist.load_mnist()[1].x(np.arange(10))
    probs = at.session_state["models"][name].model.predict_proba(x)
    buf = io.BytesIO()
    mnist.save_model(entry.model, buf)
    np.testing.assert_array_equal(mnist.load_model(buf.getvalue()).predict_proba(x), probs)


def test_second_start_is_refused_and_stop_keeps_the_model():
    at = page("train").run()
    _fill(at, tr_hidden="32", tr_subset=20000, tr_epochs=50, tr_batch_size=16)
    _button(at, "_tr_start").click().run()
    job = at.session_state["train_job"]
    assert not job.done
    _button(at, "_tr_start").click().run()
    no_exception(at)
    assert any("already going" in w.value for w in at.warning)
    assert at.session_state["train_job"] is job  # the first run goes on
    _button(at, "_tr_stop").click().run()
    assert job.wait(WAIT)
    assert job.status == "stopped" and job.records[-1]["epoch"] < 50
    at.run()
    no_exception(at)
    entry = at.session_state["models"][at.session_state["current_model"]]
    assert entry.model is job.model and entry.source == "trained"
    assert any("Stopped by you" in w.value for w in at.warning)


def test_a_diverged_run_explains_itself_and_adds_no_model():
    at = page("train").run()
    _fill(at, tr_optimizer="sgd", tr_init="uniform", tr_lr=100.0)
    n_before = len(at.session_state["models"])
    job = _small_run(at)
    assert job.status == "diverged"
    text = " ".join(e.value for e in at.error) + " ".join(i.value for i in at.info)
    assert "diverged" in text and "learning rate 100" in text and "lower the learning" in text
    assert len(at.session_state["models"]) == n_before


def test_bad_settings_show_a_message_and_start_nothing():
    at = page("train").run()
    _fill(at, tr_hidden="128, sixty")
    assert any("'sixty' is not a whole number" in e for e in errors(at))
    _button(at, "_tr_start").click().run()
    no_exception(at)
    assert "train_job" not in at.session_state
    _fill(at, tr_hidden="32", tr_patience=2, tr_val_fraction=0.0)
    _button(at, "_tr_start").click().run()
    assert any("validation" in e for e in errors(at))
    assert "train_job" not in at.session_state


def test_resume_trains_a_copy_of_the_current_model():
    at = page("train").run()
    job = _small_run(at)
    first = at.session_state["current_model"]
    w_before = job.model.state_dict()
    _button(at, "_tr_resume").click().run()
    no_exception(at)
    job2 = at.session_state["train_job"]
    assert job2.wait(WAIT) and job2.status == "done"
    at.run()
    entry = at.session_state["models"][at.session_state["current_model"]]
    assert entry.source == "fine-tuned" and first in entry.name
    assert entry.model is not job.model
    for k, v in job.model.state_dict().items():  # the original is untouched
        np.testing.assert_array_equal(v, w_before[k])
    assert not all(np.array_equal(entry.model.state_dict()[k], w_before[k]) for k in w_before)
    assert json.loads(entry.config.to_json())["hidden"] == [16]


def test_bad_model_upload_on_the_page_keeps_the_state():
    at = page("train").run()
    before = (dict(at.session_state["models"]), at.session_state["current_model"])
    at.get("file_uploader")[0].set_value(("broken.npz", b"PK\x03\x04 broken", "x"))
    at.run()
    at.button(key="_tr_use_model").click().run()
    no_exception(at)
    assert any("broken.npz" in e for e in errors(at))
    assert (dict(at.session_state["models"]), at.session_state["current_model"]) == before


def test_the_server_wide_cap_refuses_a_run_while_others_fill_it(monkeypatch):
    """Runs of all sessions share the cores: at MAX_SERVER_RUNS running, Start says so."""
    import threading

    from mnist.training import jobs
    from ui import limits

    release = threading.Event()
    fillers = []
    for _ in range(limits.MAX_SERVER_RUNS):  # other users' runs, held running until released
        cfg = mnist.TrainConfig(hidden=(8,), epochs=1, batch_size=32, val_fraction=0)
        job = jobs.TrainingJob(cfg, mnist.load_mnist()[0].take(range(64)), name="other")
        job._should_stop = lambda: release.wait(30) and True  # blocks in the first batch
        job.run = mnist.train(cfg, job.run.train_set, model=job.model, stop=job._should_stop)
        fillers.append(job.start())
    try:
        assert jobs.running_jobs() >= limits.MAX_SERVER_RUNS
        at = page("train").run()
        _fill(at, tr_hidden="16", tr_subset=500, tr_epochs=1)
        _button(at, "_tr_start").click().run()
        no_exception(at)
        assert any("server is busy" in w.value for w in at.warning)
        assert "train_job" not in at.session_state or at.session_state["train_job"] is None
    finally:
        release.set()
        for job in fillers:
            job.wait(30)
    assert jobs.running_jobs() == 0
