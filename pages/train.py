"""Train: configure a network, train it in the background with live curves, inspect the result.

The form fills a TrainConfig; Start hands it to a TrainingJob (a thread running mnist.training.loop)
kept in this session's state; a fragment polls the job twice a second and redraws the curves,
so the page stays usable and Stop acts within a batch. When the job ends its model joins the
session's models (sidebar) and the results below describe the current model.
"""

import pandas as pd
import streamlit as st

from mnist.analysis import explore
from mnist.plots import training as tp
from mnist.nn.activations import ACTIVATIONS
from mnist.training.config import ConfigError, parse_hidden
from mnist.errors import DatasetError
from mnist.nn.layers import INITS
from mnist.nn.losses import LOSSES
from mnist.nn.optim import OPTIMIZERS, SCHEDULES
from ui import cache, data, runs, session, train_form, widgets

st.title("Train")
st.caption("Build a network, train it on the digits and watch it learn. Training runs in the "
           "background: you can stop it any time, or look at other pages meanwhile.")

train_ds, test_ds = data.active_data()
runs.collect_finished_job()  # a run that has just ended joins the session's models
presets = train_form.init_form(len(train_ds))
HELP = train_form.HELP

# ============================================================================ the form
job = runs.training_job()
running = job is not None and not job.done

with st.container(border=True):
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    c1.selectbox("Preset", list(presets), key="tr_preset",
                 help="Ready-made settings: the tutorials' networks and a good default. "
                      "Load one, then change anything you like.")
    c2.button("Load preset", on_click=train_form.load_preset, args=(len(train_ds),),
              icon=":material/download:", help="Fill the form below with the chosen preset.",
              use_container_width=True)
    st.caption(presets[st.session_state.tr_preset][1])

    c1, c2, c3, c4, c5 = st.columns([1, 1, 1, 2, 1])
    c1.text_input("Hidden layers", key="tr_hidden", help=HELP["hidden"])
    c2.selectbox("Activation", list(ACTIVATIONS), key="tr_activation", help=HELP["activation"])
    optimizer = c3.selectbox("Optimizer", list(OPTIMIZERS), key="tr_optimizer",
                             help=HELP["optimizer"])
    c4.select_slider("Learning rate (log scale)", train_form.LR_STEPS, key="tr_lr_slider",
                     format_func=lambda v: f"{v:g}", on_change=train_form.lr_from_slider,
                     help=HELP["lr"])
    c5.number_input("Learning rate (exact)", min_value=1e-7, max_value=100.0, key="tr_lr",
                    format="%.6g", step=None, on_change=train_form.lr_from_number,
                    help=HELP["lr_exact"])

    c1, c2, c3, c4, c5, c6 = st.columns(6, vertical_alignment="bottom")
    full = c1.checkbox("Full batch", key="tr_full_batch", help=HELP["full_batch"])
    c2.number_input("Batch size", 1, 100_000, key="tr_batch_size", step=16,
                    disabled=full, help=HELP["batch"])
    c3.number_input("Epochs", 1, 1000, key="tr_epochs", help=HELP["epochs"])
    st.session_state.tr_subset = min(int(st.session_state.tr_subset), len(train_ds))
    c4.number_input("Train on (digits)", 0, len(train_ds), key="tr_subset", step=1000,
                    help=HELP["subset"])
    c5.number_input("Validation fraction", 0.0, 0.5, key="tr_val_fraction", step=0.05,
                    on_change=train_form.val_changed, help=HELP["val"])
    c6.number_input("Seed", 0, 2**32 - 1, key="tr_seed", help=HELP["seed"])

    with st.expander("More settings: initialisation, loss, optimizer details, schedule, "
                     "regularisation, early stopping", icon=":material/tune:"):
        c1, c2, c3, c4 = st.columns(4, vertical_alignment="bottom")
        c1.selectbox("Initialisation", list(INITS), key="tr_init", help=HELP["init"])
        c2.selectbox("Loss", list(LOSSES), key="tr_loss", help=HELP["loss"])
        c3.selectbox("Precision", ["float32", "float64"], key="tr_dtype", help=HELP["dtype"])
        c4.checkbox("Augment", key="tr_augment", help=HELP["augment"])
        c1, c2, c3, c4 = st.columns(4)
        if optimizer in ("momentum", "nesterov"):
            c1.slider("Momentum", 0.0, 0.99, key="tr_momentum", step=0.01, help=HELP["momentum"])
        elif optimizer == "adam":
            c1.slider("beta1", 0.0, 0.99, key="tr_beta1", step=0.01, help=HELP["beta1"])
            c2.slider("beta2", 0.9, 0.9999, key="tr_beta2", step=0.0001, format="%.4f",
                      help=HELP["beta2"])
        elif optimizer == "rmsprop":
            c1.slider("rho", 0.0, 0.99, key="tr_rho", step=0.01, help=HELP["rho"])
        else:
            c1.caption("Plain SGD has no extra settings.")
        c3.number_input("L2 weight decay", 0.0, 10.0, key="tr_weight_decay", format="%.6g",
                        step=1e-4, help=HELP["wd"])
        c4.slider("Dropout", 0.0, 0.9, key="tr_dropout", step=0.05, help=HELP["dropout"])
        c1, c2, c3, c4 = st.columns(4)
        schedule = c1.selectbox("LR schedule", list(SCHEDULES), key="tr_schedule",
                                help=HELP["schedule"])
        c2.number_input("Warm-up epochs", 0.0, 1000.0, key="tr_warmup", step=0.5,
                        help=HELP["warmup"])
        if schedule == "step":
            c3.number_input("Step every (epochs)", 1, 1000, key="tr_step_size",
                            help=HELP["step_size"])
            c3.number_input("gamma", 0.001, 1.0, key="tr_gamma", format="%.3f",
                            help=HELP["gamma"])
        elif schedule == "cosine":
            c3.number_input("Minimum learning rate", 0.0, 100.0, key="tr_min_lr",
                            format="%.6g", step=None, help=HELP["min_lr"])
        c4.number_input("Early-stop patience", 0, 1000, key="tr_patience",
                        help=HELP["patience"])

    try:
        hidden = parse_hidden(st.session_state.tr_hidden)
        st.caption(f"Architecture: {'-'.join(map(str, (784, *hidden, 10)))}")
    except ConfigError as e:
        st.error(str(e), icon=":material/error:")
    entry = session.current()
    c1, c2, c3 = st.columns([1, 1.6, 2])
    start = c1.button("Start training", type="primary", icon=":material/play_arrow:",
                      key="_tr_start", help="Train a new network with these settings.")
    resume = c2.button("Resume training the current model", icon=":material/replay:",
                       key="_tr_resume", disabled=entry is None,
                       help="Continue training the current model (a copy of it; the original "
                            "stays) with these optimizer and data settings; its own "
                            "architecture is kept.")
    if start or resume:
        try:
            cfg = train_form.config_from_form(len(train_ds))
            runs.start_training(cfg, resume=entry if resume else None)
            running = True
        except (ConfigError, DatasetError) as e:
            st.error(f"Cannot start: {e}", icon=":material/error:")
        except RuntimeError as e:
            st.warning(str(e), icon=":material/hourglass_top:")


# ============================================================================ live progress
def stopped_text(job, epoch: float) -> str:
    why = job.message if job.message.startswith("stopped:") else "Stopped by you"
    return (f"{why[0].upper()}{why[1:]} at epoch {epoch:.2f}; the model keeps the weights it "
            "had then.")


def live_panel():
    job = runs.training_job()
    if job is not None:
        job.touch()  # someone is watching: keep it going
    if job is None:
        st.info("No run yet in this session: pick a preset (the first one trains in seconds) "
                "and press **Start training**.", icon=":material/info:")
        return
    recs = list(job.records)
    last = recs[-1] if recs else None
    epoch = last["epoch"] if last else 0.0
    sps = job.samples_per_s
    head = f"**{job.name}** on {job.n_train:,} digits" + (
        f" (validating on {job.n_val:,})" if job.n_val else "")
    st.markdown(head)
    if job.scoring:
        st.progress(job.progress, text=f"Training ended ({job.outcome.replace('_', ' ')}) at "
                                       f"epoch {epoch:.2f}; measuring the test accuracy ...")
        if job.outcome == "stopped":
            st.warning(stopped_text(job, epoch), icon=":material/stop_circle:")
    elif not job.done:
        word = "Stopping" if job.stopping else "Training"
        text = (f"{word}: epoch {epoch:.2f} of {job.epochs} · "
                f"{(sps or 0):,.0f} samples/s · elapsed {widgets.fmt_duration(job.elapsed)} · "
                f"about {widgets.fmt_duration(job.time_left)} left")
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        c1.progress(job.progress, text=text)
        if c2.button("Stop", icon=":material/stop:", key="_tr_stop",
                     help="Stop after the current batch; the model keeps its last weights "
                          "and joins your models.", use_container_width=True):
            job.stop()
            job.wait_ended(1.0)  # it ends after the current batch: show that at once
            st.rerun(scope="fragment")
    else:
        st.progress(job.progress, text=f"Finished ({job.status.replace('_', ' ')}) at epoch "
                                       f"{epoch:.2f} of {job.epochs} in "
                                       f"{widgets.fmt_duration(job.elapsed)}")
    if recs:
        st.plotly_chart(tp.training_curves(recs, epochs=job.epochs),
                        config={"displayModeBar": False}, key="_tr_live_curves")
        v = [r for r in recs if r.get("val_acc") is not None]
        c = st.columns(4)
        if last.get("train_loss") is not None:
            c[0].metric("Train loss (latest)", f"{last['train_loss']:.4f}")
        if last.get("train_acc") is not None:
            c[1].metric("Train accuracy (latest)", f"{last['train_acc']:.2%}")
        if v:
            c[2].metric("Validation accuracy", f"{v[-1]['val_acc']:.2%}")
        c[3].metric("Learning rate", f"{last['lr']:.4g}")
    elif not job.done:
        st.caption("Preparing the first batches ...")
    if job.done:
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
        elif job.status == "early_stopped":
            st.success(job.message, icon=":material/check:")
        elif job.status == "stopped":
            st.warning(stopped_text(job, epoch), icon=":material/stop_circle:")
        if getattr(job, "entry_name", None):
            st.caption(f"Added to your models as **{job.entry_name}** (now the current model; "
                       "switch in the sidebar).")
    if job.done and not job.collected:
        runs.collect_finished_job()
        st.rerun(scope="app")  # redraw the sidebar and the results with the new model


st.subheader("Progress")
st.fragment(live_panel, run_every=0.5 if running else None)()

# ============================================================================ results
entry = session.current()
st.subheader("Current model")
if entry is None:
    st.info(cache.default_model_problem() or "No model yet.", icon=":material/info:")
else:
    ev = session.evaluation(entry)
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
    c3.download_button("History (CSV)", lambda: pd.DataFrame(entry.history).to_csv(index=False),
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
