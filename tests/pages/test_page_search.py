"""The Search page under AppTest, on the run engine: a small study runs on the shared worker
pool (live curves, statuses, results table, figures, the best run as the current model);
Cancel shows the runs that never started as cancelled; bad input is explained; the LR range
test fills the form and says so where it was clicked; the URL carries the setup and a shared
study; a session lists only its own studies; an unusable storage is a message box."""

from __future__ import annotations

import csv
import io
import time

from streamlit.testing.v1 import AppTest

from mnist.engine.study import open_study
from mnist.search.results import results_csv
from tests.app_helpers import figures
from tests.page_helpers import ROOT

PAGE = str(ROOT / "pages" / "search.py")


def _page(epochs=1, subset=2000, params=None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["_bundled_removed"] = True  # no bundled model needed
    for k, v in (params or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if epochs is not None:
        at.number_input(key="sr_epochs").set_value(epochs)
        at.number_input(key="sr_subset").set_value(subset)
        at.run()
        assert not at.exception
    return at


def _wait(study, check=lambda ts: all(t.finished for t in ts), timeout=120):
    deadline = time.monotonic() + timeout
    while not check(study.trials()):
        assert time.monotonic() < deadline, [t.status for t in study.trials()]
        time.sleep(0.1)
    return study.trials()


def _bars(at) -> list[tuple[int, str]]:
    return [(p.proto.value, p.proto.text) for p in at.get("progress")]


def _start(at):
    at.button(key="_sr_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return open_study(at.session_state["_sr_current"])


def test_a_small_search_runs_on_the_engine_and_its_best_run_becomes_the_current_model():
    at = _page()
    summary = " ".join(m.value for m in at.markdown)
    assert "**4 runs**" in summary and "about" in summary  # count and estimate before start
    # the URL holds the setup
    assert at.query_params["preset"] == "four-learning-rates"
    assert at.query_params["epochs"] == "1" and at.query_params["subset"] == "2000"
    study = _start(at)
    assert study.owner == at.session_state["_sr_owner"] and study.n_trials == 4
    trials = _wait(study)
    at.run()
    assert not at.exception
    assert [t.status for t in trials] == ["complete", "complete", "complete", "diverged"]
    # the table: one row per run, the engine's statuses in the page's words
    df = at.dataframe[1].value  # (the first lists the planned runs)
    assert list(df["status"]) == ["done", "done", "done", "diverged"]
    # one epoch numbering: the table says where the run diverged as its message does
    blown = trials[3]
    assert "at epoch 1 (batch 3 of 57)" in blown.message
    assert df["epoch"][3] == "epoch 1 of 1, batch 3 of 57"
    assert df["epoch"][0] == "the end of epoch 1 of 1"
    figs = figures(at)
    names = [t.get("name", "") for f in figs for t in f["data"]]
    assert any("(diverged)" in n for n in names) and "diverged" in names
    ucurve = [f for f in figs if f["layout"]["xaxis"].get("type") == "log"]
    assert ucurve and "best" in [t.get("name") for t in ucurve[0]["data"]]
    assert any("Best run" in s.value for s in at.success)
    # the progress bars: full for the finished runs, partial for the diverged one
    bars = _bars(at)
    assert sorted(v for v, _ in bars)[-3:] == [100, 100, 100]
    assert any("diverged at epoch 1 of 1, batch 3 of 57" in text for _, text in bars)
    # one click: the best run is the session's current model, with its test accuracy
    at.button(key="_sr_use").click().run()
    assert not at.exception
    entry = at.session_state["models"][at.session_state["current_model"]]
    assert entry.source == "search" and entry.config == study.best().config
    assert 0.5 < entry.metrics["test_acc"] <= 1.0


def test_the_flagship_comparison_measures_validation_within_its_first_epoch():
    at = _page(epochs=2, subset=6000)
    study = _start(at)
    _wait(study)
    at.run()
    curves = next(f for f in figures(at) if "Loss" in str(f["layout"].get("annotations")))
    val = [t for t in curves["data"] if t.get("xaxis", "x") == "x" and
           t.get("mode") == "lines+markers" and "lr=0.5" in t.get("name", "")]
    xs = [x for x in val[0]["x"] if x < 1]
    assert len(xs) >= 4  # the shape of learning within the first epoch, not one point at 1.0
    # the jumpy run is drawn in solid lines, never faint dots
    assert all(t.get("line", {}).get("dash", "solid") == "solid" for t in curves["data"]
               if t.get("mode", "").startswith("lines"))


def test_cancel_shows_the_runs_that_never_started_as_cancelled():
    at = _page(epochs=20, subset=20000)
    at.selectbox(key="sr_preset").set_value("Custom search").run()
    at.text_input(key="sr_grid_lr").set_value("0.01, 0.02, 0.03, 0.04, 0.05").run()
    study = _start(at)
    _wait(study, lambda ts: sum(t.status == "running" and bool(t.records) for t in ts) >= 2)
    at.run()
    assert any("queued, place" in text for _, text in _bars(at))  # queued: its place
    at.button(key="_sr_cancel").click().run()
    trials = _wait(study, timeout=30)
    at.run()
    assert not at.exception
    statuses = [t.status for t in trials]
    assert statuses.count("stopped") == 2 and statuses.count("cancelled") == 3
    bars = dict((text.split(":")[0], (v, text)) for v, text in _bars(at))
    for t in trials:
        value, text = bars[t.label]
        if t.status == "cancelled":  # never started: an empty bar that says so
            assert value == 0 and "cancelled before it started" in text
        else:
            assert 0 < value < 100 and "stopped at epoch" in text
    df = at.dataframe[1].value
    assert sorted(df["status"]) == ["cancelled (never started)"] * 3 + ["stopped"] * 2


def test_custom_grid_errors_and_the_lr_range_test_fill_the_form_and_say_so():
    at = _page()
    at.selectbox(key="sr_preset").set_value("Custom search").run()
    assert not at.exception
    at.text_input(key="sr_grid_lr").set_value("0.1, 0.01, banana").run()
    assert any("not a valid value" in e.value for e in at.error)
    assert at.button(key="_sr_start").disabled
    at.text_input(key="sr_grid_lr").set_value(", ".join(["0.1"] * 20)).run()
    assert any("at most 16" in e.value for e in at.error)
    at.text_input(key="sr_grid_lr").set_value("0.1, 0.01").run()
    assert not at.error and not at.button(key="_sr_start").disabled
    # the range test, then its range as the search's learning rates
    at.button(key="_sr_lrfind").click().run()
    assert not at.exception
    lo, hi = at.session_state["_sr_lr_result"]["suggested"]
    assert lo < hi
    at.button(key="_sr_use_range").click().run()
    assert not at.exception
    values = [float(v) for v in at.text_input(key="sr_grid_lr").value.split(",")]
    assert len(values) == 4 and min(values) >= lo * 0.95 and max(values) <= hi * 1.05
    assert "**4 runs**" in " ".join(m.value for m in at.markdown)
    # where the user clicked: what happened, and a way up to the form (plus a toast)
    note = [s.value for s in at.success if "now compares" in s.value]
    assert note and "(#what-to-compare)" in note[0]
    assert any("Search form set" in t.value for t in at.toast)


def test_random_and_tpe_searches_draw_in_their_ranges_and_show_optunas_figures():
    at = _page()
    at.selectbox(key="sr_preset").set_value("Custom search").run()
    at.radio(key="sr_sampler").set_value("tpe").run()
    at.multiselect(key="sr_vary").set_value(["lr", "batch_size"]).run()
    at.number_input(key="sr_lo_lr").set_value(0.001)
    at.number_input(key="sr_hi_lr").set_value(0.5)
    at.number_input(key="sr_trials").set_value(4).run()
    assert not at.exception and not at.error
    assert "**4 runs** drawn by the TPE sampler" in " ".join(m.value for m in at.markdown)
    assert at.query_params["sampler"] == "tpe" and at.query_params["trials"] == "4"
    study = _start(at)
    assert study.sampler == "tpe"
    trials = _wait(study)
    for t in trials:
        assert 0.001 <= t.values["lr"] <= 0.5 and 16 <= t.values["batch_size"] <= 256
    at.run()
    assert not at.exception
    titles = {str(f["layout"].get("title", {}).get("text", "")) for f in figures(at)}
    assert any("Slice" in t for t in titles) and any("Contour" in t for t in titles)
    assert any("Importance" in t for t in titles) and any("Timeline" in t for t in titles)
    at.number_input(key="sr_lo_lr").set_value(0.9).run()  # above the upper end
    assert any("above the upper end" in e.value for e in at.error)


def test_a_network_over_the_apps_weight_cap_is_refused_at_start():
    at = _page()
    at.selectbox(key="sr_preset").set_value("Custom search").run()
    at.text_input(key="sr_hidden").set_value("4096, 4096").run()
    assert not at.exception
    assert any("20,037,642 weights" in e.value for e in at.error), [e.value for e in at.error]
    assert at.button(key="_sr_start").disabled
    assert "_sr_current" not in at.session_state  # nothing started


def test_a_link_opens_its_setup_and_bad_parameters_fall_back_with_one_note():
    at = _page(None, params={"preset": "custom", "sampler": "random", "vary": "lr,momentum",
                             "from.lr": "0.01", "to.lr": "0.2", "trials": "5",
                             "hidden": "64-32", "epochs": "2", "pruner": "halving"})
    assert not at.error
    assert at.selectbox(key="sr_preset").value == "Custom search"
    assert at.radio(key="sr_sampler").value == "random"
    assert at.multiselect(key="sr_vary").value == ["lr", "momentum"]
    assert at.number_input(key="sr_lo_lr").value == 0.01
    assert at.number_input(key="sr_trials").value == 5
    assert at.text_input(key="sr_hidden").value == "64, 32"
    assert at.number_input(key="sr_epochs").value == 2
    assert at.selectbox(key="sr_pruner").value == "halving"
    assert not [i for i in at.info if "link" in i.value]  # all of it was used
    stale = _page(None, params={"preset": "no-such-preset", "epochs": "banana",
                                "sampler": "annealing", "colour": "red", "subset": "5000"})
    assert not stale.exception and not stale.error
    notes = [i.value for i in stale.info if "This link's setup" in i.value]
    assert len(notes) == 1 and "\n" not in notes[0]
    for word in ("preset='no-such-preset'", "epochs='banana'", "sampler='annealing'",
                 "colour"):
        assert word in notes[0]
    assert stale.number_input(key="sr_subset").value == 5000  # the good one is taken
    assert stale.number_input(key="sr_epochs").value == 3  # the bad ones: defaults
    assert stale.selectbox(key="sr_preset").value.startswith("Four learning rates")


def test_a_shared_study_opens_in_a_fresh_session_and_is_listed_only_where_opened():
    mine = _page()
    study = _start(mine)
    _wait(study)
    mine.run()
    mine.button(key="_sr_share").click().run()
    assert mine.query_params["study"] == study.id
    assert any(study.id in c.value for c in mine.code)
    listed = mine.dataframe[-1].value  # "My studies"
    assert study.id in list(listed["id"])
    # another session: does not list it ...
    other = _page()
    assert study.id not in str([d.value for d in other.dataframe])
    # ... and an unknown id says so, naming it
    other.text_input(key="_sr_open_id").set_value("no-such-study-id")
    other.button(key="_sr_open_btn").click().run()
    assert not other.exception
    assert any("no-such-study-id" in e.value for e in other.error)
    assert not any("journal" in e.value for e in other.error)  # no server paths
    # a fresh session opened by the shared link shows the study, finished, with its results
    fresh = _page(None, params={"study": study.id, "preset": "four-learning-rates"})
    assert not fresh.exception and not fresh.error
    assert fresh.session_state["_sr_current"] == study.id
    assert any("Best run" in s.value for s in fresh.success)
    assert len(_bars(fresh)) == 4
    assert study.id in list(fresh.dataframe[-1].value["id"])
    stale = _page(None, params={"study": "gone-study-id"})
    assert any("gone-study-id" in e.value for e in stale.error) and not stale.exception


def test_an_unusable_storage_is_a_message_box(monkeypatch):
    for url, words in (("nonsense://nowhere", "not a storage URL"),
                       ("postgresql://u:secret@127.0.0.1:9/none", "cannot reach the database")):
        monkeypatch.setenv("MNIST_STORAGE", url)
        at = AppTest.from_file(PAGE, default_timeout=60)
        at.session_state["_bundled_removed"] = True
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        boxes = [e.value for e in at.error]
        assert len(boxes) == 1 and words in boxes[0] and ":secret@" not in boxes[0]
        assert "MNIST_STORAGE" in boxes[0]


def test_an_uploaded_dataset_is_what_the_workers_train_on():
    from mnist.data.bundled import load_mnist

    train, test = load_mnist()
    mine = train.take(list(range(1500)))  # 1,350 to train on, 150 to validate: 43 batches
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["_bundled_removed"] = True
    at.session_state["data_override"] = dict(train=mine, test=test, token="upload-1",
                                             use="train")
    at.run()
    assert not at.exception
    assert at.number_input(key="sr_subset").value == 1500  # all of it
    at.number_input(key="sr_epochs").set_value(1).run()
    study = _start(at)
    assert study.data.startswith("npz:")
    trials = _wait(study)
    assert all(t.records[-1]["step"] == 43 for t in trials if t.status == "complete")


def test_the_setup_link_reads_back_as_the_same_setup():
    from ui.search_form import CUSTOM, defaults
    from ui.search_link import from_params, to_params

    first = defaults(60_000)
    state = dict(first, sr_preset=CUSTOM, sr_sampler="random", sr_vary=["lr", "hidden"],
                 sr_lo_lr=0.002, sr_hi_lr=0.4, sr_grid_hidden="64x32, 128", sr_trials=6,
                 sr_hidden="256, 128", sr_lr=0.1, sr_pruner="hyperband", sr_paired=False,
                 sr_epochs=4, sr_subset=20_000)
    params = to_params(state, first)
    assert params["preset"] == "custom" and params["hidden"] == "256-128"
    assert "activation" not in params  # only what differs from the form's first values
    changes, notes = from_params(params, first, 60_000)
    assert notes == []
    assert changes["sr_hidden"] == "256, 128"
    for key in ("sr_preset", "sr_sampler", "sr_vary", "sr_lo_lr", "sr_hi_lr", "sr_trials",
                "sr_lr", "sr_pruner", "sr_paired", "sr_epochs", "sr_subset", "sr_grid_hidden"):
        assert changes[key] == state[key], key
    # a preset's link leaves the network out, and reads back to that preset
    preset = to_params(dict(first, sr_epochs=1), first)
    assert preset == {"preset": "four-learning-rates", "epochs": "1"}
    assert from_params(preset, first, 60_000) == ({"sr_preset": first["sr_preset"],
                                                    "sr_epochs": 1}, [])


def test_a_stopped_or_stranded_study_can_be_run_again_from_the_page():
    from mnist.engine.study import create_study
    from mnist.search.presets import SEARCH_PRESETS

    preset = SEARCH_PRESETS["four-learning-rates"]
    for stop in (True, False):
        # made elsewhere (another process, or this server before a restart): nobody has
        # its runs queued here
        study = create_study(preset.space, base=preset.base.replace(epochs=1, subset=2000))
        if stop:
            study.stop()
        at = _page(None, params={"study": study.id})
        bars = _bars(at)
        assert len(bars) == 4 and all(v == 0 for v, _ in bars)
        words = "never started" if stop else "none here has them queued"
        assert any(words in c.value for c in at.caption)
        at.button(key="_sr_resume").click().run()
        assert not at.exception
        trials = _wait(study)
        assert sorted(t.status for t in trials) == ["complete"] * 3 + ["diverged"]
        at.run()
        assert not [b for b in at.button if b.key == "_sr_resume"]


def test_a_grid_over_an_mlp_and_a_cnn_runs_paired_and_is_labelled_by_spec():
    at = _page(subset=1000)
    at.selectbox(key="sr_preset").set_value("Custom search").run()
    at.multiselect(key="sr_vary").set_value(["layers"]).run()
    assert not at.exception
    help_text = at.text_input(key="sr_grid_layers").help
    assert "cannot share weights" in help_text and "same seed" in help_text
    at.text_input(key="sr_grid_layers").set_value("32, conv2k3-poo-16").run()
    assert any("'conv2k3-poo-16' is not a layer spec" in e.value and "'poo'" in e.value
               for e in at.error), [e.value for e in at.error]
    assert at.button(key="_sr_start").disabled
    at.text_input(key="sr_grid_layers").set_value("32, conv2k3-pool-16").run()
    assert not at.error and not at.exception
    assert "**2 runs**" in " ".join(m.value for m in at.markdown)
    planned = at.dataframe[0].value
    assert list(planned["network"]) == ["32", "conv2k3-pool-16"]
    # the URL carries the specs, and reads back as the same form
    assert at.query_params["vary"] == "layers"
    assert at.query_params["values.layers"] == "32, conv2k3-pool-16"
    study = _start(at)
    trials = _wait(study)
    at.run()
    assert not at.exception
    assert [t.status for t in trials] == ["complete", "complete"]
    assert [(t.config.kind, t.config.spec) for t in trials] == [("mlp", "32"),
                                                                 ("cnn", "conv2k3-pool-16")]
    assert trials[0].config.seed == trials[1].config.seed  # paired: same seed, same batches
    df = at.dataframe[1].value
    assert list(df["layers"]) == ["32", "conv2k3-pool-16"]
    rows = list(csv.DictReader(io.StringIO(results_csv([t.to_result() for t in trials]))))
    assert [r["layers"] for r in rows] == ["32", "conv2k3-pool-16"]
    names = {t.get("name", "") for f in figures(at) for t in f["data"]}
    assert {"layers=32", "layers=conv2k3-pool-16"} <= names, names


def test_a_link_carries_layer_specs_and_names_a_bad_one():
    from ui.search_form import CUSTOM, defaults
    from ui.search_link import from_params, to_params

    first = defaults(60_000)
    state = dict(first, sr_preset=CUSTOM, sr_sampler="tpe", sr_vary=["lr", "layers"],
                 sr_grid_layers="128-64, conv8k3-pool-conv16k3-pool-64", sr_trials=6)
    params = to_params(state, first)
    assert params["vary"] == "lr,layers"
    assert params["values.layers"] == "128-64, conv8k3-pool-conv16k3-pool-64"
    changes, notes = from_params(params, first, 60_000)
    assert notes == [] and changes["sr_vary"] == ["lr", "layers"]
    assert changes["sr_grid_layers"] == state["sr_grid_layers"]
    changes, notes = from_params(dict(params, **{"values.layers": "128, conv8k3-poo"}), first,
                                 60_000)
    assert "sr_grid_layers" not in changes and notes and "values.layers" in notes[0]
