"""Fine-tuning on my digits runs on the worker pool like every run (mnist.engine.tasks): with
every worker busy with other users' runs, the Draw page shows its place in the queue, the
button waits, and Cancel takes it out (no model is added)."""

from __future__ import annotations

import mnist.analysis as an
from tests.app_helpers import busy_pool
from tests.pages.test_page_draw import _app


def test_a_fine_tune_waits_for_a_busy_pool_and_can_be_cancelled():
    from ui import studies

    pool = studies.pool()
    with busy_pool() as others:
        at = _app()
        at.session_state["draw_test_drawing"] = an.synthetic_drawing("7")
        at.run()
        at.button(key="draw_add").click().run()
        n_models = len(at.session_state["models"])
        at.button(key="draw_tune").click().run()
        assert not at.exception, [e.value for e in at.exception]
        job = at.session_state["_draw_tune_job"]
        assert job.status == "queued" and job.queue_position == 1
        assert any("place 1 in the queue" in i.value for i in at.info)
        assert at.button(key="draw_tune").disabled  # one fine-tune at a time
        at.button(key="draw_tune_cancel").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert "_draw_tune_job" not in at.session_state
        assert any("cancelled" in e.value for e in at.error)
        assert len(at.session_state["models"]) == n_models
        assert pool.position(job.id) is None and job.status == "queued"  # never started
        assert all(o.status == "running" for o in others)  # theirs go on
