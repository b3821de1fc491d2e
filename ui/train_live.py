"""The Train page's Progress panel: this session's run as a worker trains it.

`panel` is drawn in a fragment the page reruns twice a second while a run goes (it reads the
run from the engine's storage: mnist.engine.job): its place in the queue, the progress line
(where the run is, in the one epoch numbering of `widgets.fmt_epoch`), live curves, Stop,
and when the run ends, what happened. `lr_control` (below it, outside the fragment) changes
the learning rate on the fly: it takes effect at the next batch and shows as a dotted line on
the curves.
"""

from __future__ import annotations

import streamlit as st

from mnist.errors import ConfigError, EngineError
from mnist.plots import training as tp
from ui import runs, widgets


def stopped_text(job, epoch: float) -> str:
    why = job.message if job.message.startswith("stopped:") else "Stopped by you"
    where = widgets.fmt_epoch(epoch, job.epochs, job.batches_per_epoch)
    return (f"{why[0].upper()}{why[1:]} at {where}; the model keeps the weights it had "
            "then.")


def _change_lr(job) -> None:
    """Ask the running job for the learning rate typed in the panel."""
    try:
        job.request_lr(st.session_state["_tr_live_lr"])
    except (ConfigError, EngineError) as e:
        st.session_state["_tr_live_lr_error"] = str(e)


def lr_control() -> None:
    """Change the learning rate of the running run (constant schedules only). Drawn by the
    page itself, not in the polling fragment: a box redrawn twice a second is hard to type
    into."""
    job = runs.training_job()
    if job is None or job.done or job.stopping:
        return
    lr_now = next((r["lr"] for r in reversed(job.records)), job.config.lr)
    if not job.steerable:
        st.caption("This run's learning rate follows its schedule: it cannot be changed while "
                   "it trains.")
        return
    st.session_state.setdefault("_tr_live_lr", float(lr_now))
    c1, c2, c3 = st.columns([1.3, 1.2, 3], vertical_alignment="bottom")
    c1.number_input("New learning rate", min_value=1e-7, max_value=100.0, format="%.6g",
                    step=None, key="_tr_live_lr",
                    help="The rate for the next batches of this run. The change is recorded "
                         "in its history: the curves show where (a dotted line).")
    c2.button("Change it now", icon=":material/speed:", key="_tr_live_lr_apply",
              on_click=_change_lr, args=(job,), use_container_width=True)
    error = st.session_state.pop("_tr_live_lr_error", None)
    if error:
        c3.error(error, icon=":material/error:")
    elif job.lr_control.pending is not None:
        c3.caption(f"Learning rate {job.lr_control.pending:g} from the next batch ...")


def panel() -> None:
    """The panel's body (the page runs it as a fragment)."""
    job = runs.training_job()
    if job is None:
        st.info("No run yet in this session: pick a preset (the first one trains in seconds) "
                "and press **Start training**, or train step by step below.",
                icon=":material/info:")
        return
    recs = list(job.records)
    if job.read_error:
        st.warning(f"{job.read_error}. Showing what was read before; trying again.",
                   icon=":material/cloud_off:")
    shown = [r for r in recs if r.get("event") is None]
    last = shown[-1] if shown else None
    epoch = recs[-1]["epoch"] if recs else 0.0
    where = widgets.fmt_epoch(epoch, job.epochs, job.batches_per_epoch)
    sps = job.samples_per_s
    st.markdown(f"**{job.name}**" + (f" on {job.n_train:,} digits" if job.n_train else "")
                + (f" (validating on {job.n_val:,})" if job.n_val else ""))
    if job.queued:
        _queued(job)
    elif job.scoring:
        st.progress(job.progress, text=f"Training ended ({job.outcome.replace('_', ' ')}) at "
                                       f"{where}; measuring the test accuracy ...")
        if job.outcome == "stopped":
            st.warning(stopped_text(job, epoch), icon=":material/stop_circle:")
    elif not job.done:
        word = "Stopping" if job.stopping else "Training"
        text = (f"{word}: {where} · {(sps or 0):,.0f} samples/s · elapsed "
                f"{widgets.fmt_duration(job.elapsed)} · about "
                f"{widgets.fmt_duration(job.time_left)} left")
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        c1.progress(job.progress, text=text)
        if c2.button("Stop", icon=":material/stop:", key="_tr_stop",
                     help="Stop after the current batch; the model keeps its last weights "
                          "and joins your models.", use_container_width=True):
            if _stop(job):
                job.wait_ended(1.0)  # it ends after the current batch: show that at once
                st.rerun(scope="fragment")
    else:
        st.progress(job.progress, text=f"Finished ({job.status.replace('_', ' ')}) at "
                                       f"{where} in {widgets.fmt_duration(job.elapsed)}")
    if recs:
        st.plotly_chart(tp.training_curves(recs, epochs=job.epochs),
                        config={"displayModeBar": False}, key="_tr_live_curves")
    if last is not None:
        v = [r for r in shown if r.get("val_acc") is not None]
        c = st.columns(4)
        if last.get("train_loss") is not None:
            c[0].metric("Train loss (latest)", f"{last['train_loss']:.4f}")
        if last.get("train_acc") is not None:
            c[1].metric("Train accuracy (latest)", f"{last['train_acc']:.2%}")
        if v:
            c[2].metric("Validation accuracy", f"{v[-1]['val_acc']:.2%}")
        c[3].metric("Learning rate", f"{recs[-1]['lr']:.4g}")
    elif not job.done:
        st.caption("Preparing the first batches ...")
    if job.done:
        _outcome(job, epoch)
    if job.done and not job.collected:
        runs.collect_finished_job()
        st.rerun(scope="app")  # redraw the sidebar and the results with the new model


def _stop(job) -> bool:
    try:
        job.stop()
    except EngineError as e:
        st.error(str(e), icon=":material/error:")
        return False
    return True


def _queued(job) -> None:
    """A run waiting for a worker: where it is in the queue, and a way out."""
    place = job.queue_position
    c1, c2 = st.columns([5, 1], vertical_alignment="center")
    c1.progress(0.0, text="Waiting for a free worker" + (
        f": place {place} in the queue" if place else "") + ". Runs of every user of this "
        "server take turns on its worker processes (one per core); yours starts next when "
        "it is at place 1.")
    if c2.button("Cancel", icon=":material/cancel:", key="_tr_cancel",
                 help="Take this run out of the queue: it never starts.",
                 use_container_width=True):
        if _stop(job):
            job.wait(1.0)
            st.rerun(scope="fragment")


def _outcome(job, epoch: float) -> None:
    """What happened, once the run has finished."""
    if job.status == "diverged":
        what = job.message.removeprefix("diverged: ") or "the loss blew up"
        st.error(f"The run diverged: {what}.", icon=":material/trending_up:")
        st.info("Each step overshot the valley instead of going down into it, so the loss "
                "exploded; the weights were set back to the last good ones and the run "
                "ended (nothing was added to your models). Hint: lower the learning rate "
                "(try 10x smaller), or use Adam, or a smaller initialisation.",
                icon=":material/lightbulb:")
    elif job.status == "error":
        st.error(f"The run failed: {job.error}", icon=":material/error:")
    elif job.status == "cancelled":
        st.info("Cancelled before it started: nothing was trained.", icon=":material/cancel:")
    elif job.status == "early_stopped":
        st.success(job.message, icon=":material/check:")
    elif job.status == "stopped":
        st.warning(stopped_text(job, epoch), icon=":material/stop_circle:")
    if getattr(job, "entry_name", None):
        st.caption(f"Added to your models as **{job.entry_name}** (now the current model; "
                   "switch in the sidebar).")
