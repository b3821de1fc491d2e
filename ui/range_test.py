"""The Search page's learning-rate range test, run on the engine like every other run.

A click queues the test as a one-trial study on the shared worker pool
(`mnist.engine.job.start_range_test`, followed by `ui.pool_jobs.PoolJob`): a worker trains the
few hundred batches, the storage keeps the result, the page only draws it.
"""

from __future__ import annotations

import streamlit as st

from mnist.engine.job import start_range_test
from mnist.training.config import TrainConfig
from ui import studies
from ui.pool_jobs import PoolJob

RESULT_KEY = "_sr_lr_result"
ERROR_KEY = "_sr_lr_error"
STEPS = 300


def _collect(job) -> None:
    st.session_state[RESULT_KEY] = job.lr_range


def _problem(text: str) -> None:
    st.session_state[ERROR_KEY] = text


TEST = PoolJob("_sr_lr_job", "range test", wait_s=10.0, cancel_key="_sr_lr_cancel",
               running="Raising the learning rate batch by batch in a worker ...",
               icon=":material/speed:", collect=_collect, problem=_problem)


def start(cfg: TrainConfig, train_set) -> None:
    """Queue the range test of `cfg` on this session's data; wait a little for its result."""
    st.session_state.pop(RESULT_KEY, None)
    st.session_state.pop(ERROR_KEY, None)
    TEST.start(lambda pool: start_range_test(
        cfg, steps=STEPS, train_set=train_set, data=studies.data_key(), owner=studies.owner(),
        pool=pool, storage=studies.storage()))
