"""The sidebar every page shares (drawn by app.py): the current model and a picker over this
session's models, a live line while a run trains, the data in use, help."""

from __future__ import annotations

import streamlit as st

from ui import cache, ensemble, help, runs, session
from ui.data import data_description, data_token, test_set_label


def _job_badge():
    """The sidebar's live line about a background run (on every page)."""
    job = runs.training_job()
    if job is None:
        return
    if job.done:
        st.caption(f"Training finished ({job.status.replace('_', ' ')}): see the Train page.")
    elif job.queued:
        place = job.queue_position
        st.caption("Training run waiting for a free worker"
                   + (f" (place {place} in the queue)" if place else "") + ".")
    else:
        st.caption(f"Training in the background: {job.progress:.0%} of {job.epochs} epochs")


def _pick_model():
    name = st.session_state.get("_model_picker")
    if name in session.models():
        session.set_current(name)


def test_accuracy(entry, label: str = "Test accuracy") -> tuple[str, float | None]:
    """(label, value): the model's accuracy on this session's test set, the label saying
    which test set that is once data was uploaded (an upload used only for training keeps
    MNIST's test set)."""
    if data_token() == "mnist":
        return label, entry.metrics.get("test_acc")
    acc = session.evaluation(entry)["test_acc"]  # cached per model and data
    return f"{label} ({test_set_label()})", acc


def draw(page: str | None = None) -> None:
    """The shared sidebar: the current model, a picker over this session's models, the help
    of the page titled `page`."""
    runs.collect_finished_job()  # a run that ended while the user was elsewhere joins the models
    with st.sidebar:
        ms = session.models()
        entry = session.current()
        st.markdown("#### Current model")
        if entry is None:
            st.info(cache.default_model_problem() or "No model yet: train one on the Train page.")
        else:
            label, acc = test_accuracy(entry)
            st.markdown(f"**{entry.name}**  \n`{entry.architecture}` · {entry.activation}"
                        f" · {entry.source}")
            if acc is not None:
                st.metric(label, f"{acc:.2%}",
                          help="Share of the test digits this model classifies correctly "
                               "(the test set is never used for training).")
            ensemble.members_caption(entry)
            if len(ms) > 1:
                names = list(ms)
                st.session_state["_model_picker"] = entry.name
                st.selectbox("Use model", names, key="_model_picker", on_change=_pick_model,
                             help="Models trained or uploaded in this session (only you see "
                                  "them). The chosen one is used by every page.")
            ensemble.maker(ms)
        job = runs.training_job()
        if job is not None and not job.done:
            st.fragment(_job_badge, run_every=3)()
        st.caption(f"Data: {data_description()}")
        with st.expander("Help", icon=":material/help:"):
            st.markdown(help.page_help(page))
