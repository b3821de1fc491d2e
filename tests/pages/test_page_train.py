"""The Train page under AppTest: presets fill the form, the learning-rate slider and number
stay in sync, a short run completes through the UI and joins the session's models, Stop keeps
the model, a second Start is refused, a diverged run explains itself, bad settings and bad
model files show their message and change nothing."""

import io
import json
import re
import time

import numpy as np

import mnist
import mnist.training.presets
from mnist.training.live import lr_changes
from tests.app_helpers import busy_pool, errors, figures, no_exception, page

WAIT = 120  # seconds a background run may take on a busy machine


def _fill(at, **values):
    for key, v in values.items():
        kind = {"tr_hidden": "text_input", "tr_full_batch": "checkbox",
                "tr_optimizer": "selectbox", "tr_init": "selectbox"}.get(key, "number_input")
        getattr(at, kind)(key=key).set_value(v)
    at.run()
    no_exception(at)


def _button(at, key):
    return at.button(key=key)


def _running(at, job):
    """Until a worker trains the run (it is queued first) and the page shows it so."""
    deadline = time.time() + WAIT
    while not job.records and not job.done and time.time() < deadline:
        time.sleep(0.05)
    assert job.records, f"the run never started ({job.status})"
    at.run()


def _small_run(at, **extra):
    _fill(at, tr_hidden="16", tr_subset=500, tr_epochs=1, **extra)
    _button(at, "_tr_start").click().run()
    no_exception(at)
    job = at.session_state["train_job"]
    assert job.wait(WAIT), "the run did not finish"
    at.run()
    no_exception(at)
    return job


def test_choosing_a_preset_fills_the_form_and_start_trains_it():
    """Item 1: the preset box loads the preset as it changes (no other button to miss), and
    Start trains exactly that preset."""
    at = page("train").run()
    no_exception(at)
    presets = at.selectbox(key="tr_preset").options
    assert "tutorial-32-gd" in presets and "default" in presets
    assert not any(b.label == "Load preset" for b in at.button)
    at.selectbox(key="tr_preset").set_value("tutorial-32-gd").run()
    no_exception(at)
    s = at.session_state
    assert s["tr_hidden"] == "32" and s["tr_full_batch"] and s["tr_lr"] == 0.1
    assert s["tr_optimizer"] == "sgd" and s["tr_init"] == "uniform" and s["tr_epochs"] == 500
    at.selectbox(key="tr_preset").set_value("tutorial-128-64-sgd").run()
    assert not any("changed from the preset" in c.value for c in at.caption)
    _button(at, "_tr_start").click().run()
    no_exception(at)
    job = at.session_state["train_job"]
    try:
        preset = mnist.training.presets.PRESETS["tutorial-128-64-sgd"][0]
        assert job.config == preset.replace(val_fraction=job.config.val_fraction)
        assert job.config.sizes == (784, 128, 64, 10) and job.config.optimizer == "sgd"
    finally:
        job.stop()
        job.wait(WAIT)
    # an edit after choosing is named, so the box never claims settings the form lacks
    at.number_input(key="tr_epochs").set_value(2).run()
    assert any("changed from the preset: epochs" in c.value for c in at.caption)


def test_the_learning_rate_slider_and_number_show_one_value():
    """Item 9: a typed rate (off the slider's stops, or beyond them) is what the slider shows,
    and a slider move is what the number shows."""
    at = page("train").run()
    at.select_slider(key="tr_lr_slider").set_value(0.002).run()
    assert at.session_state["tr_lr"] == 0.002
    assert at.number_input(key="tr_lr").value == 0.002
    for typed in (0.04, 50.0, 3e-7):
        at.number_input(key="tr_lr").set_value(typed).run()
        no_exception(at)
        assert at.session_state["tr_lr"] == typed
        assert at.select_slider(key="tr_lr_slider").value == typed
    at.select_slider(key="tr_lr_slider").set_value(0.1).run()
    assert at.number_input(key="tr_lr").value == 0.1
    assert 3e-7 not in at.select_slider(key="tr_lr_slider").options  # only the value in use


def test_train_on_digits_counts_the_digits_used():
    """Item 10: the box holds how many digits train (all of them by default), never a 0 that
    means all."""
    at = page("train").run()
    assert at.number_input(key="tr_subset").value == 5000  # the quick preset's sample
    at.selectbox(key="tr_preset").set_value("default").run()
    box = at.number_input(key="tr_subset")
    assert box.value == 60_000 and box.min >= 10 and box.max == 60_000
    assert any("training digits: all 60,000" in c.value for c in at.caption)
    box.set_value(1000).run()
    assert any("training digits: 1,000 of 60,000" in c.value for c in at.caption)


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
    _running(at, job)
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


def test_a_run_waits_its_turn_when_the_workers_are_busy_and_can_be_cancelled():
    """Runs of every session share the server's worker pool: with every worker busy with
    other users' runs, Start queues the run and the page shows its place; Cancel takes it
    out of the queue (it never starts, adds no model) and the others go on."""
    with busy_pool() as others:
        at = page("train").run()
        n_models = len(at.session_state["models"])
        _fill(at, tr_hidden="16", tr_subset=500, tr_epochs=1)
        _button(at, "_tr_start").click().run()
        no_exception(at)
        job = at.session_state["train_job"]
        assert job.status == "queued" and job.queue_position == 1
        assert any("place 1 in the queue" in p.text for p in at.get("progress"))
        _button(at, "_tr_cancel").click().run()
        assert job.wait(WAIT) and job.status == "cancelled" and not job.records
        at.run()
        no_exception(at)
        assert any("Cancelled before it started" in i.value for i in at.info)
        assert len(at.session_state["models"]) == n_models
        assert all(o.status == "running" for o in others)  # theirs go on


def test_a_diverged_run_says_the_same_epoch_in_the_bar_the_message_and_the_chart():
    """Item 7: one epoch numbering: the progress line, train()'s message and the chart agree,
    and the chart's x range is the epochs the run trained, not the plan."""
    at = page("train").run()
    _fill(at, tr_optimizer="sgd", tr_init="uniform", tr_lr=100.0, tr_epochs=10,
          tr_hidden="16", tr_subset=500)
    _button(at, "_tr_start").click().run()
    job = at.session_state["train_job"]
    assert job.wait(WAIT) and job.status == "diverged"
    at.run()
    no_exception(at)
    bar = at.get("progress")[0].proto.text
    msg = job.message  # "... at epoch 1 (batch 3 of 8) ..."
    m = re.search(r"at epoch (\d+) \(batch (\d+) of (\d+)\)", msg)
    assert m, msg
    e, b, n = m.groups()
    assert f"at epoch {e} of 10, batch {b} of {n}" in bar, (bar, msg)
    assert "0.00" not in bar
    curves = figures(at)[0]
    hi = curves["layout"]["xaxis"]["range"][1]
    assert hi < 1.0  # it ended within epoch 1: not a 0-10 axis
    assert any(a.get("hovertext") == f"epoch {e}, batch {b} of {n}"
               for a in curves["layout"]["annotations"])


def test_a_link_opens_its_setup_and_the_url_follows_the_form():
    """A lesson in a link: query parameters fill the form; edits go back into the URL; the
    share box holds the link."""
    at = page("train")
    at.query_params.update({"hidden": "64-32", "optimizer": "sgd", "lr": "0.05",
                            "subset": "2000", "epochs": "4", "val_fraction": "0.2"})
    at.run()
    no_exception(at)
    s = at.session_state
    assert (s["tr_hidden"], s["tr_optimizer"], s["tr_lr"], s["tr_subset"], s["tr_epochs"]) == \
        ("64, 32", "sgd", 0.05, 2000, 4)
    assert s["tr_val_fraction"] == 0.2
    assert not any("could not be used" in i.value for i in at.info)
    at.number_input(key="tr_epochs").set_value(6).run()
    q = at.query_params
    assert (q["epochs"], q["hidden"], q["lr"], q["subset"]) == ("6", "64-32", "0.05", "2000")
    assert any("epochs=6" in c.value and "hidden=64-32" in c.value for c in at.code)


def test_a_link_with_bad_or_stale_parameters_opens_with_defaults_and_a_note():
    at = page("train")
    at.query_params.update({"lr": "fast", "optimizer": "adamw", "epochs": "7",
                            "old_setting": "1"})
    at.run()
    no_exception(at)
    assert at.session_state["tr_epochs"] == 7 and at.session_state["tr_optimizer"] == "adam"
    notes = [i.value for i in at.info if "link" in i.value]
    assert len(notes) == 1 and "\n" not in notes[0]
    assert "lr='fast'" in notes[0] and "optimizer='adamw'" in notes[0]
    assert "old_setting" in notes[0]
    assert not at.error


def test_the_learning_rate_of_a_running_run_changes_at_the_next_batch():
    at = page("train").run()
    _fill(at, tr_optimizer="sgd", tr_lr=0.1, tr_hidden="32", tr_subset=20000, tr_epochs=50,
          tr_batch_size=16)
    _button(at, "_tr_start").click().run()
    job = at.session_state["train_job"]
    try:
        at.number_input(key="_tr_live_lr").set_value(0.01)
        _button(at, "_tr_live_lr_apply").click().run()
        no_exception(at)
        deadline = time.time() + WAIT
        while not lr_changes(job.records) and time.time() < deadline:
            time.sleep(0.05)
        (change,) = lr_changes(job.records)
        assert change["lr_before"] == 0.1 and change["lr"] == 0.01
        while job.records[-1] == change and time.time() < deadline:
            time.sleep(0.05)
        at.run()
        assert at.session_state["train_job"] is job
        curves = figures(at)[0]
        assert any(sh.get("line", {}).get("dash") == "dot" and sh["x0"] == change["epoch"]
                   for sh in curves["layout"]["shapes"])
    finally:
        job.stop()
        job.wait(WAIT)
    after = [r["lr"] for r in job.records if r.get("event") is None
             and r["step"] > change["step"]]
    assert after and set(after) == {0.01}


def test_step_by_step_trains_one_batch_per_click_and_keeps_the_network():
    at = page("train").run()
    _fill(at, tr_optimizer="sgd", tr_lr=0.1, tr_hidden="16", tr_subset=1000)
    _button(at, "_tr_step_one").click().run()
    no_exception(at)
    run = at.session_state["_tr_steps"]["run"]
    assert run.steps == 1 and run.config.hidden == (16,)
    before = run.model.state_dict()
    _button(at, "_tr_step_ten").click().run()
    assert run.steps == 11
    assert not all(np.array_equal(before[k], v) for k, v in run.model.state_dict().items())
    assert any("11 steps" in m.value for m in at.markdown)
    charts = {c.proto.id: c for c in at.get("plotly_chart")}
    assert len(charts) >= 3  # curves, first-layer weights, the digit's probabilities
    at.number_input(key="_tr_step_lr").set_value(0.5).run()
    _button(at, "_tr_step_one").click().run()
    (change,) = lr_changes(run.records)
    assert change["step"] == 11 and run.records[-1]["lr"] == 0.5 and run.steps == 12
    assert any("0.1 → 0.5 after step 11" in c.value for c in at.caption)
    at.radio(key="_tr_step_view").set_value("change in the last step").run()
    no_exception(at)
    n_models = len(at.session_state["models"])
    _button(at, "_tr_step_keep").click().run()
    no_exception(at)
    assert len(at.session_state["models"]) == n_models + 1
    entry = at.session_state["models"][at.session_state["current_model"]]
    assert entry.model is run.model and "12 steps" in entry.name
    assert "_tr_steps" not in at.session_state


def test_the_results_figures_are_made_once_per_model_not_on_every_rerun(monkeypatch):
    """Item 8: every widget change reruns the page; the current model's figures are made once
    (for the bundled model once per server), so a rerun draws them without rebuilding."""
    from mnist.plots import training as tp

    made = []
    real = tp.confusion_heatmap
    monkeypatch.setattr(tp, "confusion_heatmap", lambda *a, **k: made.append(1) or real(*a, **k))
    at = page("train").run()
    first = len(made)  # 0 when an earlier test of this process made the bundled model's
    for epochs in (7, 8, 9):
        at.number_input(key="tr_epochs").set_value(epochs).run()
        no_exception(at)
    assert len(made) == first <= 1
    assert len(at.get("plotly_chart")) >= 3
    job = _small_run(at)  # a new current model: its figures once, then none
    assert job.status == "done"
    n = len(made)
    assert n == first + 1
    at.number_input(key="tr_seed").set_value(5).run()
    assert len(made) == n


def test_a_cnn_is_chosen_by_kind_and_spec_with_its_shapes_and_trains():
    """MLP or CNN: the CNN's layer spec shows its parameter count and each layer's output
    shape; a bad spec says what is wrong under the box and Start waits; a good one trains."""
    at = page("train").run()
    no_exception(at)
    offered = at.selectbox(key="tr_preset").options
    cnn_presets = [o for o in offered if ": CNN " in o]
    assert cnn_presets and offered.index(cnn_presets[0]) > offered.index("default")
    at.radio(key="tr_kind").set_value("CNN").run()
    no_exception(at)
    at.text_input(key="tr_layers").set_value("conv4k3-pool-conv8k15-pool-16").run()
    assert any("15x15 kernel" in e for e in errors(at)), errors(at)
    assert _button(at, "_tr_start").disabled
    at.text_input(key="tr_layers").set_value("conv4k3-pool-16").run()
    no_exception(at)
    assert not errors(at) and not _button(at, "_tr_start").disabled
    cfg = mnist.TrainConfig(layers="conv4k3-pool-16")
    assert any(f"{cfg.n_params:,} parameters" in c.value for c in at.caption)
    table = " ".join(m.value for m in at.markdown)
    assert "| conv4k3 | 4 x 28 x 28 | 40 |" in table and "| pool | 4 x 14 x 14 | 0 |" in table
    assert "| flatten | 784 | 0 |" in table and "| output | 10 | 170 |" in table
    assert any("Architecture: conv4k3-pool-16" in c.value and "to train (estimated)" in c.value
               for c in at.caption)
    assert at.query_params["layers"] == "conv4k3-pool-16"
    _fill(at, tr_subset=300, tr_epochs=1)
    _button(at, "_tr_start").click().run()
    no_exception(at)
    job = at.session_state["train_job"]
    assert job.config.layers == "conv4k3-pool-16" and job.config.kind == "cnn"
    assert job.wait(WAIT), "the run did not finish"
    at.run()
    no_exception(at)
    assert job.status == "done" and job.records[-1]["epoch"] == 1.0
    entry = at.session_state["models"][at.session_state["current_model"]]
    assert entry.model is job.model and entry.model.kind == "cnn"
    # step by step trains the CNN too (its first layer is filters, not pixel templates)
    _button(at, "_tr_step_one").click().run()
    no_exception(at)
    assert at.session_state["_tr_steps"]["run"].config.layers == "conv4k3-pool-16"
    assert any("not a layer of pixel weights" in c.value for c in at.caption)
    _button(at, "_tr_step_keep").click().run()
    no_exception(at)
    assert at.session_state["current_model"].startswith("stepped: conv4k3-pool-16 ")


def test_a_cnn_preset_and_a_cnn_link_fill_the_kind_and_the_spec():
    at = page("train").run()
    name = next(o for o in at.selectbox(key="tr_preset").options if ": CNN " in o)
    at.selectbox(key="tr_preset").set_value(name).run()
    no_exception(at)
    s = at.session_state
    assert s["tr_kind"] == "CNN" and s["tr_layers"] == mnist.training.presets.PRESETS[
        name.split(":")[0]][0].layers
    assert not any("changed from the preset" in c.value for c in at.caption)
    at.selectbox(key="tr_preset").set_value("tutorial-32-gd").run()
    assert s["tr_kind"] == "MLP" and s["tr_hidden"] == "32"
    link = page("train")
    link.query_params.update({"layers": "conv8k3-pool-32", "epochs": "2"})
    link.run()
    no_exception(link)
    assert link.session_state["tr_kind"] == "CNN"
    assert link.session_state["tr_layers"] == "conv8k3-pool-32"
    assert not any("could not be used" in i.value for i in link.info)


def test_the_estimate_follows_the_work_of_each_network():
    from ui import train_estimate

    rates = {"dense": 1e9, "conv": 1e9}
    mlp = mnist.TrainConfig(hidden=(32,))
    assert train_estimate.multiply_adds(mlp) == {"dense": 784 * 32 + 32 + 330, "conv": 0.0}
    small, big = (mnist.TrainConfig(layers=s) for s in ("conv4k3-pool-32",
                                                        "conv16k5-pool-conv32k5-pool-128"))
    assert train_estimate.samples_per_s(big, rates) < train_estimate.samples_per_s(small, rates)
    assert train_estimate.samples_per_s(small, rates) < train_estimate.samples_per_s(mlp, rates)
