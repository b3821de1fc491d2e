"""This session's training run: start it on the engine, find it, collect its model when it ends.

A run is a one-trial study on the server's worker pool (`mnist.engine.job.EngineJob`), the
same machinery as a search: a worker process trains it, the storage keeps its records, the
page only reads them. Its id is in `st.session_state["train_job"]` and in the page's URL
(`?run=<id>`), so a reload finds the run again, still training or finished.
"""

from __future__ import annotations

import streamlit as st

from mnist.engine.job import EngineJob, start_job
from mnist.errors import EngineError
from mnist.training.config import TrainConfig, config_for_model
from mnist.training.live import lr_changes
from mnist.training.persist import clone_model
from ui import limits, session, studies, widgets
from ui.data import active_data, data_token

JOB_KEY = "train_job"
URL_KEY = "run"  # the query parameter that names this session's run
FIRST_RECORD_WAIT_S = 0.5


def training_job() -> EngineJob | None:
    """This session's run: the one it started, or the one its URL names (after a reload)."""
    job = st.session_state.get(JOB_KEY)
    if job is None and (sid := st.query_params.get(URL_KEY)):
        st.session_state[JOB_KEY] = job = _reopen(sid)
    return job


def _reopen(study_id: str) -> EngineJob | None:
    try:
        job = EngineJob.reopen(study_id, studies.storage(), pool=studies.pool())
    except EngineError:  # not a run of this server's storage: the link is stale
        st.query_params.pop(URL_KEY, None)
        return None
    return _tracked(job, resumed_from=None)


def _tracked(job: EngineJob, resumed_from: str | None) -> EngineJob:
    """The job with what this session keeps about it: whether its model has joined the
    session yet, the data it is scored on, the model it resumed."""
    job.collected, job.data_token, job.resumed_from = False, data_token(), resumed_from
    return job


def start_training(cfg: TrainConfig, resume: session.ModelEntry | None = None) -> EngineJob:
    """Queue this session's run (one at a time) on the worker pool. Raises RuntimeError if one
    is going, ConfigError / DatasetError for inputs train() refuses, EngineError when the
    storage cannot be used."""
    job = training_job()
    if job is not None and not job.done:
        raise RuntimeError("A training run is already going in this session: stop it first "
                           "(one run at a time).")
    train, _ = active_data()
    model = None
    if resume is not None:
        model = clone_model(resume.model)  # the original stays as it was
        cfg = config_for_model(cfg, model)
    arch = cfg.spec if cfg.kind == "cnn" else "-".join(map(str, cfg.sizes))  # run label
    limits.check_weights(arch, cfg.n_params)
    n = st.session_state.get("_run_counter", 0) + 1
    name = (f"run {n}: resumed {resume.name}" if resume is not None else
            f"run {n}: {arch} {cfg.optimizer} lr {cfg.lr:g}")
    pool = studies.pool()
    idle = pool.has_free_worker()
    job = start_job(cfg, name=name, model=model, train_set=train, data=studies.data_key(),
                    owner=studies.owner(), pool=pool, storage=studies.storage())
    _tracked(job, resumed_from=resume.name if resume is not None else None)
    st.session_state["_run_counter"] = n
    st.session_state[JOB_KEY] = job
    st.query_params[URL_KEY] = job.id
    st.session_state.pop("_tr_live_lr", None)  # the rate box starts at this run's rate
    # an idle worker sends the first record within a fraction of a second: this rerun shows
    # it, rather than the next poll half a second later (a busy pool: the queue at once)
    if idle:
        job.wait_records(FIRST_RECORD_WAIT_S)
    return job


def collect_finished_job() -> session.ModelEntry | None:
    """Once the job has finished: add its model to the session (once). Diverged, failed and
    cancelled runs add nothing. Returns the new entry (None if nothing was added now)."""
    job = training_job()
    if job is None or job.collected or not job.done:
        return None
    job.collected = True
    if job.status in ("diverged", "error", "cancelled") or not job.records or job.model is None:
        return None
    note = job.message or job.status
    changes = lr_changes(job.records)
    if changes:  # its config's lr is where it started: the history has the rest
        note += "; learning rate changed while training: " + ", ".join(
            f"{r['lr_before']:g} → {r['lr']:g} at "
            f"{widgets.fmt_epoch(r['epoch'], None, job.batches_per_epoch)}" for r in changes)
    entry = session.add_model(job.name, job.model,
                              "fine-tuned" if job.resumed_from else "trained",
                              config=job.config, history=job.records, note=note,
                              scores=job.result,
                              scored_on=job.data_token if job.result else None)
    job.entry_name = entry.name
    return entry
