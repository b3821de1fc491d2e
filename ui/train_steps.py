"""The Train page's Step by step panel: train one minibatch at a time and watch what one step
does (as TensorFlow Playground's single step).

The run is `mnist.training.live.StepRun` (train()'s own loop, paused after every batch), kept in
`st.session_state["_tr_steps"]` with what the last step started from (the first layer's weights
and one digit's probabilities), so the panel shows the loss so far, the weights now or the
change one step made, and a test digit's probabilities before and after. Each step is cheap and
runs in this page (a fragment: only the panel reruns). The learning rate can change between
steps; the curves mark where.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from mnist.analysis.explore import mosaic
from mnist.analysis.inside import weight_tiles
from mnist.errors import ConfigError, DatasetError
from mnist.plots import analysis as pa
from mnist.plots import training as tp
from mnist.training.live import StepRun, lr_changes
from ui import data, limits, session, widgets

KEY = "_tr_steps"
UNITS = 16  # first-layer units drawn (a 4 x 4 mosaic)


def stepping() -> dict | None:
    """This session's step-by-step state: run (StepRun), W_before, p_before; or None."""
    return st.session_state.get(KEY)


def _watched(test) -> tuple[np.ndarray, int | None]:
    """The test digit being watched: its pixels (1, 784) and label."""
    i = int(st.session_state.get("_tr_step_digit", 0)) % len(test)
    return test.x([i]), (int(test.labels[i]) if test.has_labels else None)


def _tiles(model) -> np.ndarray | None:
    try:
        return weight_tiles(model)[:UNITS].copy()  # (units, 28, 28)
    except (ValueError, AttributeError, IndexError):  # a conv net: no pixel templates
        return None


def _arch(cfg) -> str:
    """The network as its label says it: 784-16-10, or a CNN's layer spec."""
    return cfg.spec if cfg.layers else "-".join(map(str, cfg.sizes))


def start(cfg) -> str | None:
    """A new step-by-step run with the form's settings; a message if it cannot start."""
    train, _ = data.active_data()
    try:
        limits.check_weights(_arch(cfg), cfg.n_params)
        run = StepRun(cfg, train)
    except (ConfigError, DatasetError) as e:
        return str(e)
    st.session_state[KEY] = dict(run=run, W_before=None, p_before=None)
    st.session_state["_tr_step_lr"] = float(cfg.lr)
    return None


def step(n: int = 1) -> None:
    """Train `n` minibatches (fewer if the run ends), remembering where the last one began."""
    state = stepping()
    run = state["run"]
    x, _ = _watched(data.active_data()[1])
    for _ in range(n):
        if run.done:
            break
        state["W_before"] = _tiles(run.model)
        state["p_before"] = run.model.predict_proba(x)[0]
        run.step()


def _set_lr() -> None:
    state = stepping()
    if state is None:
        return
    try:
        state["run"].lr.request(st.session_state["_tr_step_lr"])
    except ConfigError as e:
        st.session_state["_tr_step_lr_error"] = str(e)


def keep() -> str:
    """End stepping and add the network to the session's models; its name."""
    state = st.session_state.pop(KEY)
    run = state["run"]
    run.close()
    entry = session.add_model(f"stepped: {_arch(run.config)} "
                              f"{run.config.optimizer}, {run.steps} steps", run.model,
                              "trained", config=run.config, history=run.records,
                              note=f"trained step by step ({run.steps} minibatches)")
    return entry.name


# ---------------------------------------------------------------------------- drawing
def _on_step(cfg, n: int) -> None:
    """Step (a callback, so the buttons are drawn knowing the new state): a new run first if
    none is going."""
    state = stepping()
    if state is None or state["run"].done:
        problem = start(cfg) if cfg is not None else "fix the form's settings first"
        if problem:
            st.session_state["_tr_step_error"] = f"Cannot start: {problem}"
            return
    step(n)


def panel(cfg) -> None:
    """The panel (the page runs it as a fragment). `cfg`: the form's config (None when the
    form has a problem)."""
    state = stepping()
    going = state is not None and not state["run"].done
    c = st.columns([1, 1, 1.3, 1.4, 2], vertical_alignment="bottom")
    c[0].button("Step" if going else "First step", icon=":material/skip_next:",
                key="_tr_step_one", type="primary", disabled=cfg is None and not going,
                on_click=_on_step, args=(cfg, 1), use_container_width=True,
                help="Train on one minibatch (a new network from the form's settings if none "
                     "is being stepped).")
    c[1].button("10 steps", icon=":material/fast_forward:", key="_tr_step_ten",
                disabled=not going, on_click=_on_step, args=(cfg, 10),
                use_container_width=True)
    c[2].button("New network", icon=":material/restart_alt:", key="_tr_step_new",
                disabled=state is None, on_click=st.session_state.pop, args=(KEY, None),
                use_container_width=True,
                help="Forget this one; the next step starts again from the form's settings.")
    error = st.session_state.pop("_tr_step_error", None)
    if error:
        st.error(error, icon=":material/error:")
    if state is None:
        st.caption("Uses the form's settings above. Each step is one gradient step on one "
                   "minibatch: press Step and watch the loss, the weights and the digit.")
        return
    run = state["run"]
    if c[3].button("Keep this network", icon=":material/save:", key="_tr_step_keep",
                   disabled=not run.steps, use_container_width=True,
                   help="End stepping and add the network to your models (sidebar)."):
        name = keep()
        st.toast(f"Added to your models as **{name}**.", icon=":material/check:")
        st.rerun(scope="app")
    if run.lr.steerable:
        c[4].number_input("Learning rate for the next steps", min_value=1e-7,
                          max_value=100.0, format="%.6g", step=None, key="_tr_step_lr",
                          on_change=_set_lr,
                          help="Takes effect at the next step; the curves mark where.")
    error = st.session_state.pop("_tr_step_lr_error", None)
    if error:
        st.error(error, icon=":material/error:")
    _show(state, run)


def _show(state: dict, run: StepRun) -> None:
    last = next((r for r in reversed(run.records) if r.get("event") is None), None)
    where = widgets.fmt_epoch(last["epoch"] if last else 0, run.config.epochs,
                              run.batches_per_epoch)
    loss = last.get("train_loss") if last else None
    status = {"diverged": " · **diverged**: lower the learning rate and start a new network",
              "done": " · finished its epochs"}.get(run.status, "")
    st.markdown(f"**{run.steps:,} steps** · at {where} · learning rate {run.current_lr:g}"
                + (f" · this batch's loss **{loss:.4f}**" if loss is not None else "")
                + status)
    if run.records:
        st.plotly_chart(tp.training_curves(run.records, height=300),
                        config={"displayModeBar": False}, key="_tr_step_curves")
    changes = lr_changes(run.records)
    if changes:
        st.caption("Learning-rate changes: " + ", ".join(
            f"{r['lr_before']:g} → {r['lr']:g} after step {r['step']}" for r in changes))
    c1, c2 = st.columns(2)
    with c1:
        tiles = _tiles(run.model)
        if tiles is None:
            st.caption("This network's first layer is not a layer of pixel weights.")
        else:
            view = st.radio("First layer", ["weights", "change in the last step"],
                            horizontal=True, key="_tr_step_view",
                            help="Each tile: one hidden unit's weights on the 28x28 pixels "
                                 "(red: ink there excites it, blue: inhibits it).")
            if view == "weights":
                st.plotly_chart(pa.weight_mosaic(mosaic(tiles, cols=4, fill=np.nan),
                                                 title=f"First {len(tiles)} hidden units",
                                                 height=360),
                                config={"displayModeBar": False}, key="_tr_step_weights")
            elif state["W_before"] is not None:
                delta = tiles - state["W_before"]
                st.plotly_chart(pa.weight_mosaic(mosaic(delta, cols=4, fill=np.nan),
                                                 title="What the last step changed",
                                                 height=360),
                                config={"displayModeBar": False}, key="_tr_step_delta")
    with c2:
        test = data.active_data()[1]
        st.number_input("Watch test digit #", 0, len(test) - 1, key="_tr_step_digit",
                        on_change=state.update, kwargs=dict(p_before=None),
                        help="Its probabilities after the last step (and before it).")
        x, label = _watched(test)
        p = run.model.predict_proba(x)[0]
        st.plotly_chart(pa.probs_bar(p, label, height=230),
                        config={"displayModeBar": False}, key="_tr_step_probs")
        if label is not None and state["p_before"] is not None:
            before, now = float(state["p_before"][label]), float(p[label])
            st.caption(f"P(true digit {label}): {before:.1%} before the last step, "
                       f"{now:.1%} after it ({now - before:+.1%}).")
