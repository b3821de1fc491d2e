"""A short job beside a run, queued on the worker pool and followed from its page: the Search
page's learning-rate range test (ui.range_test), the Draw page's fine-tune (ui.my_digits).

Anything that trains runs in a worker (mnist.engine.job). `PoolJob.start(make)` queues one
(`make(pool)` returns its EngineJob) and keeps it in the session; with a free worker the click
waits up to `wait_s` for it to end, so the result shows in the same redraw, as if the server
had computed it. Otherwise `follow()` draws a panel, redrawn twice a second, with its place
in the queue (or that it runs) and Cancel, until it ends; then `collect(job)` stores its
result, or `problem(text)` what went wrong, and the page is drawn again.
"""

from __future__ import annotations

import streamlit as st

from mnist.errors import ConfigError, DatasetError, EngineError
from ui import studies


class PoolJob:
    def __init__(self, key: str, what: str, *, running: str, icon: str, wait_s: float,
                 cancel_key: str, collect, problem):
        self.key, self.what, self.running_text, self.icon = key, what, running, icon
        self.wait_s, self.cancel_key = wait_s, cancel_key
        self.collect, self.problem = collect, problem

    def job(self):
        return st.session_state.get(self.key)

    def running(self) -> bool:
        return self.job() is not None

    def start(self, make) -> None:
        """Queue `make(pool)`'s job; with a free worker, wait a little for its result."""
        pool = studies.pool()
        idle = pool.has_free_worker()
        try:
            job = make(pool)
        except (ConfigError, DatasetError, EngineError) as e:
            self.problem(str(e))
            return
        st.session_state[self.key] = job
        if idle:
            job.wait(self.wait_s)
        self.take()

    def take(self) -> bool:
        """If the job has ended: its result (or why there is none) is stored and the job
        forgotten. Whether it had ended."""
        job = self.job()
        try:
            if job is None or not job.done:
                return False
            if job.status == "done":
                self.collect(job)
            else:
                self.problem(f"The {self.what} did not finish: {job.message or job.status}")
        except EngineError as e:  # the storage went away
            self.problem(str(e))
        st.session_state.pop(self.key, None)
        return True

    def follow(self) -> None:
        """While the job waits or runs, the panel that follows it (a fragment)."""
        if self.running():
            st.fragment(self._panel, run_every=0.5)()

    def _panel(self) -> None:
        job = self.job()
        if job is None:
            return
        if self.take():
            st.rerun(scope="app")
        place = job.queue_position
        st.info(f"The {self.what} waits for a free worker: place {place} in the queue."
                if place else self.running_text, icon=self.icon)
        if st.button("Cancel", key=self.cancel_key, icon=":material/cancel:",
                     help=f"Drops the {self.what} from the queue (one already running "
                          "finishes unseen)."):
            studies.pool().cancel(job.id)
            st.session_state.pop(self.key, None)
            self.problem(f"The {self.what} was cancelled.")
            st.rerun(scope="app")
