"""The Search page under AppTest: a small search completes through the UI (live curves, results
table, U-curve, best run usable as the current model), cancel works, bad input is explained,
and the LR range test feeds the search form."""

import time

import psutil
from streamlit.testing.v1 import AppTest

from tests.app_helpers import figures
from tests.page_helpers import ROOT

PAGE = str(ROOT / "pages" / "search.py")


def _page(epochs=1, subset=2000):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["_bundled_removed"] = True  # no bundled model needed
    at.run()
    assert not at.exception
    at.number_input(key="sr_epochs").set_value(epochs)
    at.number_input(key="sr_subset").set_value(subset)
    at.run()
    assert not at.exception
    return at




def test_a_small_search_completes_and_its_best_run_becomes_the_current_model():
    at = _page()
    # the default preset: four learning rates, with a count and a time estimate before starting
    summary = " ".join(m.value for m in at.markdown)
    assert "**4 runs**" in summary and "about" in summary
    at.button(key="_sr_start").click().run()
    assert not at.exception
    search = at.session_state["_sr_search"]
    assert search.wait(60) and not search.error
    at.run()
    assert not at.exception
    assert [r.status for r in search.results][:3] == ["done", "done", "done"]
    assert search.results[3].status == "diverged"  # lr 5 on He-initialised SGD blows up
    # results: table (one row per run, best highlighted), curves, U-curve
    table = at.dataframe[-1]  # (the first one lists the planned runs)
    df = table.value
    assert len(df) == 4 and list(df["status"]) == [r.status for r in search.results]
    figs = figures(at)
    names = [t.get("name", "") for f in figs for t in f["data"]]
    assert any("(diverged)" in n for n in names) and "diverged" in names
    ucurve = [f for f in figs if f["layout"]["xaxis"].get("type") == "log"]
    assert ucurve and "best" in [t.get("name") for t in ucurve[0]["data"]]
    assert any("Best run" in s.value for s in at.success)
    # one click: the best run is the session's current model, with its test accuracy
    at.button(key="_sr_use").click().run()
    assert not at.exception
    name = at.session_state["current_model"]
    entry = at.session_state["models"][name]
    assert entry.source == "search" and entry.config == search.best.config
    assert 0.5 < entry.metrics["test_acc"] <= 1.0
    assert not set(search.worker_pids()) & {p.pid for p in psutil.Process().children()}


def test_cancel_from_the_page_stops_the_search():
    at = _page(epochs=20, subset=20000)
    at.button(key="_sr_start").click().run()
    search = at.session_state["_sr_search"]
    deadline = time.time() + 20
    while not any(r.history for r in search.results) and time.time() < deadline:
        time.sleep(0.1)
    at.run()
    at.button(key="_sr_cancel").click().run()
    assert search.wait(10) and search.cancelled
    at.run()
    assert not at.exception
    assert {r.status for r in search.results} <= {"stopped", "cancelled", "diverged"}
    assert any("cancelled" in m.value for m in at.markdown)


def test_custom_grid_errors_and_the_lr_range_test_fill_the_form():
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
    res = at.session_state["_sr_lr_result"]
    lo, hi = res["suggested"]
    assert lo < hi
    at.button(key="_sr_use_range").click().run()
    assert not at.exception
    values = [float(v) for v in at.text_input(key="sr_grid_lr").value.split(",")]
    assert len(values) == 4 and min(values) >= lo * 0.95 and max(values) <= hi * 1.05
    assert "**4 runs**" in " ".join(m.value for m in at.markdown)


def test_random_search_draws_the_asked_number_of_runs_in_the_ranges():
    at = _page()
    at.selectbox(key="sr_preset").set_value("Custom search").run()
    at.radio(key="sr_mode").set_value("Random").run()
    at.multiselect(key="sr_vary").set_value(["lr", "batch_size"]).run()
    at.number_input(key="sr_lo_lr").set_value(0.001)
    at.number_input(key="sr_hi_lr").set_value(0.5)
    at.number_input(key="sr_trials").set_value(5).run()
    assert not at.exception and not at.error
    assert "**5 runs**" in " ".join(m.value for m in at.markdown)
    runs = at.dataframe[0].value  # the planned runs
    lrs = runs["lr"].astype(float)
    bs = runs["batch_size"].astype(int)
    assert len(runs) == 5 and lrs.between(0.001, 0.5).all() and lrs.nunique() == 5
    assert bs.between(16, 256).all()
    at.number_input(key="sr_lo_lr").set_value(0.9).run()  # above the upper end
    assert any("above the upper end" in e.value for e in at.error)


def test_a_network_over_the_apps_weight_cap_is_refused_at_start():
    at = _page()
    at.selectbox(key="sr_preset").set_value("Custom search").run()
    at.text_input(key="sr_hidden").set_value("4096, 4096").run()
    assert not at.exception
    # said before anything starts (no time estimate is measured for it either)
    assert any("20,037,642 weights" in e.value for e in at.error), [e.value for e in at.error]
    assert at.button(key="_sr_start").disabled
    assert "_sr_search" not in at.session_state  # nothing started
