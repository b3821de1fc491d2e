"""Train: configure a network, train it in the background with live curves, inspect the result.

The form (ui.train_form) fills a TrainConfig and keeps it in the URL, so a link opens the same
setup; Start queues it on the server's worker pool as a one-trial study (ui.runs,
mnist.engine.job): a worker process trains it and the storage keeps its records; a fragment
reads them twice a second and redraws the curves (ui.train_live), so the page stays usable,
Stop acts within a batch, the learning rate can change on the fly and a reload loses nothing.
Step by step (ui.train_steps) trains one minibatch per click. When a run ends its model joins
the session's models (sidebar) and the results below describe the current model.
"""

import streamlit as st

from mnist.errors import ConfigError, DatasetError, EngineError
from ui import (data, runs, session, studies, train_form, train_live, train_results,
                train_steps, widgets)

widgets.ensure_router()  # a link to this page may be a fresh server's first request
st.title("Train")
st.caption("Build a network, train it on the digits and watch it learn. Training runs in the "
           "background: you can stop it any time, or look at other pages meanwhile.")

n_train = data.data_sizes()[0]  # the form needs only the size: no waiting for the arrays
runs.collect_finished_job()  # a run that has just ended joins the session's models
offered = train_form.init_form(n_train)
train_form.link_note()

# ============================================================================ the form
job = runs.training_job()
running = job is not None and not job.done
with st.container(border=True):
    current = session.current()  # an ensemble is not trained: its members are
    action, cfg = train_form.draw(n_train, offered, can_resume=current is not None
                                  and current.kind != "ensemble")
    if action is not None:
        try:
            if cfg is None:
                raise ConfigError("fix the setting shown above first")
            runs.start_training(cfg, resume=session.current() if action == "resume" else None)
            running = True
        except (ConfigError, DatasetError, EngineError) as e:
            st.error(f"Cannot start: {e}", icon=":material/error:")
        except RuntimeError as e:
            st.warning(str(e), icon=":material/hourglass_top:")

# ============================================================================ live progress
st.subheader("Progress")
st.fragment(train_live.panel, run_every=0.5 if running else None)()
train_live.lr_control()

st.subheader("Step by step")
st.fragment(train_steps.panel)(cfg)

# ============================================================================ results
st.subheader("Current model")
train_results.panel()

with st.expander("Upload a model file", icon=":material/upload:"):
    up = st.file_uploader("Model (.npz saved by MNIST Lab)", type=["npz"], key="_model_upload",
                          help="A file downloaded from this page (or mnist.save_model). "
                               "Never a pickle.")
    if st.button("Use this model", disabled=up is None, key="_tr_use_model",
                 help="Load it, check it, and make it the current model."):
        problem = session.use_uploaded_model(up.name, up.getvalue())
        if problem:
            st.error(problem, icon=":material/error:")
        else:
            st.rerun()

# the server's worker pool (as the Search page): started once this page is drawn, its processes
# load while the form is read, so the first Start finds idle workers
studies.pool()
