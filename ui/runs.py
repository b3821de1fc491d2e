"""This session's background training run: start it, find it, collect its model when it ends.

A run is a `mnist.training.jobs.TrainingJob` (a thread) kept in
`st.session_state["train_job"]`, one per session at a time. The page only starts it and
looks at it; the job holds this session's token weakly and stops itself when the session is
gone or nobody has looked at it for a while (`limits.ABANDON_AFTER_S`).
"""

from __future__ import annotations

import streamlit as st

from mnist.training.config import TrainConfig, config_for_model
from mnist.training.jobs import TrainingJob
from mnist.training.live import lr_changes
from mnist.training.persist import clone_model
from ui import limits, session, widgets
from ui.data import active_data, data_token

class SessionToken:
    """Lives in one session's state only: a training job holds it weakly and stops itself
    when the session (and so the token) is gone."""


def training_job() -> TrainingJob | None:
    return st.session_state.get("train_job")


def start_training(cfg: TrainConfig, resume: session.ModelEntry | None = None) -> TrainingJob:
    """Start this session's training job (one at a time). Raises RuntimeError if one is
    running or the server is busy, ConfigError / DatasetError for inputs train() refuses."""
    job = training_job()
    if job is not None and not job.done:
        raise RuntimeError("A training run is already going in this session: stop it first "
                           "(one run at a time).")
    if (busy := limits.server_busy()) is not None:
        raise RuntimeError(busy)
    train, test = active_data()
    model = None
    if resume is not None:
        model = clone_model(resume.model)  # the original stays as it was
        cfg = config_for_model(cfg, model)
    arch = cfg.spec if cfg.kind == "cnn" else "-".join(map(str, cfg.sizes))  # run label
    limits.check_weights(arch, cfg.n_params)
    n = st.session_state.get("_run_counter", 0) + 1
    name = (f"run {n}: resumed {resume.name}" if resume is not None else
            f"run {n}: {arch} {cfg.optimizer} lr {cfg.lr:g}")
    owner = st.session_state.setdefault("_session_token", SessionToken())
    job = TrainingJob(cfg, train, model=model, test=test, name=name, owner=owner,
                      abandon_after=limits.ABANDON_AFTER_S)
    job.resumed_from = resume.name if resume is not None else None
    job.collected = False
    job.data_token = data_token()
    st.session_state["_run_counter"] = n
    st.session_state["train_job"] = job
    st.session_state.pop("_tr_live_lr", None)  # the rate box starts at this run's rate
    job.start()
    return job


def collect_finished_job() -> session.ModelEntry | None:
    """Once the job has finished: add its model to the session (once). Diverged and failed
    runs add nothing. Returns the new entry (None if nothing was added now)."""
    job = training_job()
    if job is None or not job.done or job.collected:
        return None
    job.collected = True
    if job.status in ("diverged", "error") or not job.records:
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
                              scores=job.result, scored_on=job.data_token)
    job.entry_name = entry.name
    return entry
