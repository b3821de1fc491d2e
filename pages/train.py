"""Train: configure a network, train it in the background with live curves, inspect the result.

The form (ui.train_form) fills a TrainConfig and keeps it in the URL, so a link opens the same
setup; Start hands it to a TrainingJob (a thread running mnist.training.loop) kept in this
session's state; a fragment polls the job twice a second and redraws the curves (ui.train_live),
so the page stays usable, Stop acts within a batch and the learning rate can change on the fly.
Step by step (ui.train_steps) trains one minibatch per click. When a run ends its model joins
the session's models (sidebar) and the results below describe the current model.
"""

import streamlit as st

from mnist.analysis import explore
from mnist.errors import ConfigError, DatasetError
from mnist.plots import training as tp
from ui import cache, data, runs, session, train_form, train_live, train_steps

st.title("Train")
st.caption("Build a network, train it on the digits and watch it learn. Training runs in the "
           "background: you can stop it any time, or look at other pages meanwhile.")

n_train = data.data_sizes()[0]  # the form needs only the size: no waiting for the arrays
runs.collect_finished_job()  # a run that has just ended joins the session's models
offered = train_form.init_form(n_train)
train_form.link_note()

def history_csv(history: list[dict]) -> str:
    import pandas as pd  # only when the file is asked for: half a second on a first visit

    return pd.DataFrame(history).to_csv(index=False)


# ============================================================================ the form
job = runs.training_job()
running = job is not None and not job.done
with st.container(border=True):
    action, cfg = train_form.draw(n_train, offered, can_resume=session.current() is not None)
    if action is not None:
        try:
            if cfg is None:
                raise ConfigError("fix the setting shown above first")
            runs.start_training(cfg, resume=session.current() if action == "resume" else None)
            running = True
        except (ConfigError, DatasetError) as e:
            st.error(f"Cannot start: {e}", icon=":material/error:")
        except RuntimeError as e:
            st.warning(str(e), icon=":material/hourglass_top:")

# ============================================================================ live progress
st.subheader("Progress")
st.fragment(train_live.panel, run_every=0.5 if running else None)()

st.subheader("Step by step")
st.fragment(train_steps.panel)(cfg)

# ============================================================================ results
entry = session.current()
st.subheader("Current model")
if entry is None:
    st.info(cache.default_model_problem() or "No model yet.", icon=":material/info:")
else:
    with st.spinner("Measuring the current model on the test set ..."):
        ev = session.evaluation(entry)
        test_ds = data.active_data()[1]
    st.markdown(f"**{entry.name}** · `{entry.architecture}` · {entry.describe()} · "
                f"{entry.source}")
    c1, c2, c3 = st.columns(3)
    c1.metric("Test accuracy", f"{ev['test_acc']:.2%}",
              help=f"On {ev['n']:,} test digits the model never trained on.")
    c2.metric("Test loss", f"{ev['test_loss']:.4f}",
              help="The average loss on the test digits (lower is better).")
    c3.metric("Test errors", f"{int(round((1 - ev['test_acc']) * ev['n'])):,}",
              help="Test digits it gets wrong (see them on the Mistakes page).")
    c1, c2 = st.columns(2)
    c1.plotly_chart(tp.per_class_accuracy(ev["per_class"]), config={"displayModeBar": False},
                    key="_tr_per_class")
    c2.plotly_chart(tp.confusion_heatmap(ev["confusion"]), config={"displayModeBar": False},
                    key="_tr_confusion")
    st.caption("Rows: the true digit; columns: what the model said. Off the diagonal are the "
               "mistakes: which digits it mixes up.")

    st.markdown("**Softmax outputs for the first test digits**")
    k = 8
    probs = ev["probs"][:k]
    c1, c2 = st.columns([1, 3])
    c1.image(explore.mosaic(test_ds.images[:k], cols=4), width=260,
             caption="test digits #0-#7, left to right, top to bottom")
    c2.plotly_chart(tp.softmax_heatmap(probs, test_ds.labels[:k]
                                          if test_ds.has_labels else None),
                    config={"displayModeBar": False}, key="_tr_softmax")
    st.caption("Each row sums to 1: the network's probability for each digit. A confident "
               "network puts almost everything on one class.")
    with st.expander("As the tutorials print them"):
        st.code("probabilities for classes 0..9 -> predicted digit\n" +
                explore.softmax_table(probs), language=None)
    if entry.history:
        with st.expander("Training curves of this model"):
            st.plotly_chart(tp.training_curves(entry.history),
                            config={"displayModeBar": False}, key="_tr_model_curves")

    st.markdown("**Download**")
    c1, c2, c3 = st.columns(3)
    safe = entry.file_stem
    # the files are made when clicked (a big model takes a second to compress), not on every
    # rerun of the page
    c1.download_button("Model (.npz)", lambda: session.model_file_bytes(entry), f"{safe}.npz",
                       mime="application/octet-stream", icon=":material/download:",
                       help="The weights and metadata; load it again with Upload below or "
                            "mnist.load_model.", key="_tr_dl_model")
    c2.download_button("Config (JSON)", entry.config_json(), f"{safe}.json",
                       mime="application/json", icon=":material/data_object:", key="_tr_dl_config",
                       help="The TrainConfig that made this model (TrainConfig.from_json).")
    c3.download_button("History (CSV)", lambda: history_csv(entry.history),
                       f"{safe}-history.csv", mime="text/csv",
                       icon=":material/table:", disabled=not entry.history, key="_tr_dl_hist",
                       help="One row per record: epoch, loss, accuracy, learning rate ...")

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
