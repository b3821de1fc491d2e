"""The Search page's learning-rate range test, run on the engine like every other run.

A click queues the test as a one-trial study on the shared worker pool
(`mnist.engine.job.start_range_test`): a worker trains the few hundred batches, the storage
keeps the result, the page only draws it. With a free worker the result is usually there
within `RESULT_WAIT_S` and appears in the same redraw as the click, as when the server
computed it itself; otherwise a panel polls the storage twice a second (its place in the
queue, Cancel) until it is.
"""

from __future__ import annotations

import streamlit as st

from mnist.engine.job import start_range_test
from mnist.errors import ConfigError, DatasetError, EngineError
from mnist.training.config import TrainConfig
from ui import studies

JOB_KEY = "_sr_lr_job"
RESULT_KEY = "_sr_lr_result"
ERROR_KEY = "_sr_lr_error"
STEPS = 300
RESULT_WAIT_S = 10.0  # how long a click waits for a free worker's result before polling


def start(cfg: TrainConfig, train_set) -> None:
    """Queue the range test of `cfg` on this session's data; wait a little for its result."""
    st.session_state.pop(RESULT_KEY, None)
    st.session_state.pop(ERROR_KEY, None)
    pool = studies.pool()
    idle = pool.has_free_worker()
    try:
        job = start_range_test(cfg, steps=STEPS, train_set=train_set, data=studies.data_key(),
                               owner=studies.owner(), pool=pool, storage=studies.storage())
    except (ConfigError, DatasetError, EngineError) as e:
        st.session_state[ERROR_KEY] = str(e)
        return
    st.session_state[JOB_KEY] = job
    if idle:
        job.wait(RESULT_WAIT_S)
    collect()


def collect() -> bool:
    """Take the job's result (or its error) once it has ended; whether it has."""
    job = st.session_state.get(JOB_KEY)
    try:
        if job is None or not job.done:
            return False
        if job.lr_range:
            st.session_state[RESULT_KEY] = job.lr_range
        else:
            st.session_state[ERROR_KEY] = ("The range test did not finish: "
                                           f"{job.message or job.status}")
    except EngineError as e:  # the storage went away
        st.session_state[ERROR_KEY] = str(e)
    st.session_state.pop(JOB_KEY, None)
    return True


def waiting_panel() -> None:
    """While the test waits or runs: where it is, and Cancel (redrawn every half second)."""
    job = st.session_state.get(JOB_KEY)
    if job is None:
        return
    if collect():
        st.rerun(scope="app")
    place = job.queue_position
    if place:
        st.info(f"Waiting for a free worker: place {place} in the queue.",
                icon=":material/hourglass_top:")
    else:
        st.info("Raising the learning rate batch by batch in a worker ...",
                icon=":material/speed:")
    if st.button("Cancel", key="_sr_lr_cancel", icon=":material/cancel:",
                 help="Drops the test from the queue (one already running finishes unseen)."):
        studies.pool().cancel(job.id)
        st.session_state.pop(JOB_KEY, None)
        st.session_state[ERROR_KEY] = "The range test was cancelled."
        st.rerun(scope="app")


def running() -> bool:
    return st.session_state.get(JOB_KEY) is not None
