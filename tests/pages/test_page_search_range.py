"""The Search page's learning-rate range test runs on the worker pool like every run: with a
free worker its result is on the page after the click; with every worker busy with other
users' runs it waits its turn, shows its place in the queue, and Cancel takes it out."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app_helpers import busy_pool
from tests.page_helpers import ROOT

PAGE = str(ROOT / "pages" / "search.py")


def _page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["_bundled_removed"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _infos(at) -> str:
    return " ".join(i.value for i in at.info)


def test_the_range_test_runs_in_a_worker_and_its_result_is_drawn():
    from ui import studies

    at = _page()
    at.button(key="_sr_lrfind").click().run()
    assert not at.exception, [e.value for e in at.exception]
    res = at.session_state["_sr_lr_result"]
    assert res["suggested"][0] < res["suggested"][1] and 10 < len(res["lrs"]) <= 300
    worker_pids = set(studies.pool().pids())
    assert worker_pids and "_sr_lr_job" not in at.session_state
    assert any("Suggested range" in s.value for s in at.success)


def test_the_range_test_waits_for_a_busy_pool_and_can_be_cancelled():
    from ui import studies

    pool = studies.pool()
    with busy_pool() as others:
        at = _page()
        at.button(key="_sr_lrfind").click().run()
        assert not at.exception, [e.value for e in at.exception]
        job = at.session_state["_sr_lr_job"]
        assert job.status == "queued" and job.queue_position == 1
        assert "place 1 in the queue" in _infos(at)
        at.run()  # the next redraw: still waiting, and one test at a time
        assert "place 1 in the queue" in _infos(at) and at.button(key="_sr_lrfind").disabled
        at.button(key="_sr_lr_cancel").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert "_sr_lr_job" not in at.session_state and "_sr_lr_result" not in at.session_state
        assert any("cancelled" in e.value for e in at.error)
        assert pool.position(job.id) is None and job.status == "queued"  # never started
        assert all(o.status == "running" for o in others)  # theirs go on
