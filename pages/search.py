"""Search: what does the learning rate (or any setting) do? Train several runs side by side.

The page reads the widgets into a list of TrainConfigs (mnist.search.space: the form's space,
grid / sample, or a preset), shows how many runs and about how long, and hands them to a
`mnist.search.pool.Search`, which trains them in worker processes and fills in its results
from a background thread. A fragment polls that object twice a second and redraws the live
curves; Cancel stops every run within a batch.
Afterwards: the results table, the U-curve, parallel coordinates, the best run as a model.
The learning-rate range test (mnist.training.lr_finder) has its own section at the bottom.
"""

import math

import numpy as np
import pandas as pd
import streamlit as st

import ui
from mnist.nn.activations import ACTIVATIONS
from mnist.training.config import ConfigError, TrainConfig, parse_hidden
from mnist.errors import DatasetError
from mnist.training.jobs import report_every_for
from mnist.nn.layers import INITS
from mnist.training.lr_finder import lr_range_test
from mnist.nn.optim import OPTIMIZERS
from mnist.search.estimate import estimate_seconds, measure_speed, speed_key
from mnist.search.pool import MAX_SEARCH_EPOCHS, Search, available_cores, running_searches
from mnist.search.presets import SEARCH_PRESETS
from mnist.search.results import results_csv, results_table
from mnist.search.space import (FIELDS, MAX_RUNS, OFFERED, format_value, grid, sample,
                                space_from_form)
from mnist.plots.search import (accuracy_vs_lr, lr_finder_plot, parallel_coordinates,
                                search_curves)
from mnist.training.loop import build_model

CUSTOM = "Custom search"
PRESET_TITLES = {p.title: k for k, p in SEARCH_PRESETS.items()}
KEEP_ALL_BYTES = 64 * 1024 * 1024  # keep every run's weights if they fit in this
CORES = available_cores()  # the cores this process may use (a container may have fewer)

st.title("Search")
st.caption("Train several networks side by side and compare them honestly: runs that differ "
           "in one setting start from the **same initial weights** and see the **same "
           "minibatches in the same order**, so any difference between the curves is that "
           "setting's doing. Runs train in parallel on the server's cores.")

train_ds, test_ds = ui.data.active_data()
ui.widgets.keep_widget_state()  # choices survive a visit to another page (the app does it too)


def search_state():
    return st.session_state.get("_sr_search")


# ============================================================================ what to compare
def use_suggested_range(lo: float, hi: float, cfg: dict):
    """LR range test -> the search form: a custom grid of 4 learning rates in the range, on
    the network the test ran on."""
    st.session_state["sr_preset"] = CUSTOM
    st.session_state["sr_hidden"] = ", ".join(str(h) for h in cfg["hidden"])
    for key, field in (("sr_activation", "activation"), ("sr_init", "init"),
                       ("sr_optimizer", "optimizer")):
        st.session_state[key] = cfg[field]
    st.session_state["sr_batch"] = int(cfg["batch_size"] or 128)
    st.session_state["sr_lr"] = float(math.sqrt(lo * hi))
    st.session_state["sr_vary"] = ["lr"]
    st.session_state["sr_mode"] = "Grid"
    st.session_state["sr_grid_lr"] = ", ".join(f"{v:.2g}" for v in np.geomspace(lo, hi, 4))
    st.session_state["sr_lo_lr"], st.session_state["sr_hi_lr"] = float(lo), float(hi)


def base_from_widgets() -> TrainConfig:
    hidden = parse_hidden(st.session_state["sr_hidden"])
    return TrainConfig(hidden=hidden, activation=st.session_state["sr_activation"],
                       init=st.session_state["sr_init"],
                       optimizer=st.session_state["sr_optimizer"],
                       lr=float(st.session_state["sr_lr"]),
                       batch_size=int(st.session_state["sr_batch"]), seed=0)


def space_from_widgets(fields: list, mode: str) -> dict:
    s = st.session_state
    return space_from_form(fields, mode == "Random",
                           values={f: s.get(f"sr_grid_{f}", "") for f in fields},
                           ranges={f: (s.get(f"sr_lo_{f}"), s.get(f"sr_hi_{f}")) for f in fields})


st.subheader("What to compare")
ui.widgets.default("sr_preset", SEARCH_PRESETS["four-learning-rates"].title)
choice = st.selectbox("Start from", [*PRESET_TITLES, CUSTOM], key="sr_preset",
                      help="A ready-made comparison, or your own search.")
budget_cols = st.columns(4)
n_train_all = len(train_ds)
ui.widgets.default("sr_epochs", 3)
ui.widgets.default("sr_subset", min(10_000, n_train_all))
if not min(1000, n_train_all) <= st.session_state["sr_subset"] <= n_train_all:  # data changed
    st.session_state["sr_subset"] = min(10_000, n_train_all)
ui.widgets.default("sr_jobs", min(CORES, 4))
epochs = budget_cols[0].number_input(
    "Epochs per run", 1, MAX_SEARCH_EPOCHS, key="sr_epochs",
    help="The budget of each run. A few epochs show the differences already.")
subset = budget_cols[1].number_input(
    "Digits per run", min(1000, n_train_all), n_train_all, step=1000, key="sr_subset",
    help="Each run trains on the same stratified sample of this many training digits "
         f"(a share is held out to validate on). All: {n_train_all:,}.")
jobs = budget_cols[2].number_input(
    "Parallel runs", 1, max(CORES, 1), key="sr_jobs",
    help=f"Worker processes, one per core ({CORES} here). Each uses one core.")
halving = budget_cols[3].checkbox(
    "Successive halving", key="sr_halving",
    help="After each rung (e.g. epoch 1, 2, 4) only the better half of the runs continue: the "
         "budget goes to the promising ones.")
ui.widgets.default("sr_paired", True)
paired = st.checkbox("Paired: identical starting weights and batch order for every run",
                     key="sr_paired",
                     help="Off: each run gets its own seed (shows run-to-run luck as well).")

val_fraction = ui.data.val_fraction() or 0.1
budget = dict(epochs=int(epochs), subset=None if subset >= n_train_all else int(subset),
              val_fraction=val_fraction)
configs, problem = [], None
try:
    if choice != CUSTOM:
        preset = SEARCH_PRESETS[PRESET_TITLES[choice]]
        st.info(preset.note, icon=":material/science:")
        configs = preset.configs(paired, **budget)
    else:
        with st.container(border=True):
            st.markdown("**The network every run starts from**")
            c = st.columns(6)
            ui.widgets.default("sr_hidden", "128, 64")
            ui.widgets.default("sr_activation", "relu")
            ui.widgets.default("sr_init", "he")
            ui.widgets.default("sr_optimizer", "sgd")
            ui.widgets.default("sr_lr", 0.05)
            ui.widgets.default("sr_batch", 32)
            c[0].text_input("Hidden layers", key="sr_hidden")
            c[1].selectbox("Activation", list(ACTIVATIONS), key="sr_activation")
            c[2].selectbox("Initialisation", list(INITS), key="sr_init")
            c[3].selectbox("Optimizer", list(OPTIMIZERS), key="sr_optimizer")
            c[4].number_input("Learning rate", 1e-6, 10.0, format="%g", key="sr_lr")
            c[5].number_input("Batch size", 1, 4096, key="sr_batch")
            ui.widgets.default("sr_mode", "Grid")
            ui.widgets.default("sr_vary", ["lr"])
            m1, m2 = st.columns([1, 3])
            mode = m1.radio("How", ["Grid", "Random"], key="sr_mode", horizontal=True,
                            help="Grid: every combination of the listed values. Random: N "
                                 "draws from ranges (log-uniform for learning rate and weight "
                                 "decay), which covers more values for the same budget.")
            fields = m2.multiselect("Vary", list(OFFERED), key="sr_vary",
                                    format_func=lambda f: FIELDS[f].label)
            for f in fields:
                label, kind, rng = FIELDS[f].label, FIELDS[f].kind, FIELDS[f].range
                if mode == "Grid" or rng is None:
                    ui.widgets.default(f"sr_grid_{f}", FIELDS[f].grid)
                    st.text_input(f"{label}: values, comma separated", key=f"sr_grid_{f}",
                                  help="Layer sizes as 128x64.")
                else:
                    num = float if kind == "float" else int
                    ui.widgets.default(f"sr_lo_{f}", num(rng[0]))
                    ui.widgets.default(f"sr_hi_{f}", num(rng[1]))
                    r1, r2 = st.columns(2)
                    fmt = "%g" if kind == "float" else "%d"
                    r1.number_input(f"{label}: from", key=f"sr_lo_{f}", format=fmt)
                    r2.number_input(f"{label}: to", key=f"sr_hi_{f}", format=fmt)
            if mode == "Random":
                ui.widgets.default("sr_trials", 8)
                st.number_input("Random trials", 1, MAX_RUNS, key="sr_trials")
            base = base_from_widgets().replace(**budget)
            space = space_from_widgets(fields, mode)  # ConfigError names a bad field
            if mode == "Grid":
                configs = grid(space, base, paired=paired)
            else:
                configs = sample(space, int(st.session_state["sr_trials"]), seed=0, base=base,
                                 paired=paired)
    biggest = max(configs, key=lambda c: c.n_params)
    n_params = biggest.n_params
    ui.limits.check_weights("-".join(map(str, biggest.sizes)), n_params)  # as the Train page
    if halving and configs and configs[0].epochs < 2:
        st.caption("Successive halving compares the runs after whole epochs: with 1 epoch "
                   "there is nothing to halve.")
except ConfigError as e:
    problem = str(e)
    configs = []


@st.cache_data(show_spinner=False, max_entries=64)
def _speed(key_json: str, _cfg: TrainConfig, token: str) -> float:  # token: the active data
    return measure_speed(_cfg, train_ds)  # about 0.1 s for the tutorial's network


def estimate(configs) -> float:
    speeds = {}
    for c in configs:
        k = speed_key(c)
        if k not in speeds:
            speeds[k] = _speed(repr(k), c, ui.data.data_token())
    return estimate_seconds(configs, n_train_all, speeds, int(jobs))


current = search_state()
running = current is not None and not current.done
if problem:
    st.error(problem, icon=":material/error:")
elif configs:
    est = estimate(configs)
    workers = min(int(jobs), len(configs))
    st.markdown(f"**{len(configs)} run{'s' if len(configs) > 1 else ''}** of "
                f"{configs[0].epochs} epoch{'s' if configs[0].epochs > 1 else ''} on "
                f"{budget['subset'] or n_train_all:,} digits ({val_fraction:.0%} held out to "
                f"validate), {workers} in parallel: about **{ui.widgets.fmt_duration(est)}**"
                + (" (less with successive halving)" if halving else "") + ".")
    with st.expander("The runs", expanded=False):
        show = pd.DataFrame([{"run": i, **{k: format_value(v) for k, v in c.to_dict().items()
                                           if k in ("hidden", "init", "optimizer", "lr",
                                                    "batch_size", "epochs", "seed", "momentum",
                                                    "weight_decay", "dropout", "activation")}}
                             for i, c in enumerate(configs)])
        st.dataframe(show, hide_index=True)

others = running_searches() - (1 if running else 0)
if others > 0:
    st.caption(f"{others} other search{'es are' if others > 1 else ' is'} running on this server "
               "right now: the runs share its cores and will take longer than estimated.")
if st.button("Start the search", type="primary", icon=":material/play_arrow:",
             disabled=running or not configs, key="_sr_start"):
    try:
        if not configs:  # (the button is disabled then)
            raise ConfigError(problem or "nothing to run")
        if (busy := ui.limits.server_busy()) is not None:
            raise ConfigError(busy)
        keep = "all" if 8 * n_params * len(configs) <= KEEP_ALL_BYTES else "best"  # float64
        n = budget["subset"] or n_train_all
        s = Search(configs, train_ds, jobs=int(jobs), halving=halving, keep=keep,
                   report_every=report_every_for(int(n * (1 - val_fraction)),
                                                 configs[0].batch_size, per_epoch=10))
    except (ConfigError, DatasetError) as e:
        st.error(f"Cannot start: {e}", icon=":material/error:")
    else:
        s.title = choice
        st.session_state["_sr_search"] = s
        s.start()
        running = True


# ============================================================================ live progress
def progress_panel():
    s = search_state()
    if s is None:
        st.info("No search yet in this session: pick a comparison and press **Start the "
                "search**.", icon=":material/info:")
        return
    runs = [r.to_dict() for r in s.results]
    if not s.done:
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        finished = sum(r.finished for r in s.results)
        c1.markdown(f"**{getattr(s, 'title', 'Search')}**: {finished} of {len(runs)} runs "
                    f"finished · {ui.widgets.fmt_duration(s.elapsed)}"
                    + (" · cancelling ..." if s.cancelled else ""))
        if c2.button("Cancel", icon=":material/cancel:", key="_sr_cancel",
                     use_container_width=True,
                     help="Stop every run now; what they learned so far stays in the table."):
            s.cancel()
            st.toast("Cancelling ...")
    else:
        word = "cancelled" if s.cancelled else ("failed" if s.error else "finished")
        st.markdown(f"**{getattr(s, 'title', 'Search')}**: {word} in "
                    f"{ui.widgets.fmt_duration(s.elapsed)}.")
        if s.error:
            st.error(f"The search failed: {s.error}", icon=":material/error:")
    cols = st.columns(2)
    for i, r in enumerate(s.results):
        last = r.last
        acc = last.get("val_acc")
        text = (f"{r.label}: {r.status.replace('_', ' ')} · epoch {r.epochs_done:.2f} of "
                f"{r.config.epochs}" + (f" · val acc {acc:.1%}" if acc is not None else ""))
        cols[i % 2].progress(r.progress, text=text)
    if any(r["history"] for r in runs):
        st.plotly_chart(search_curves(runs, epochs=max(c.epochs for c in s.configs)),
                        config={"displayModeBar": False}, key="_sr_live_curves")
    for ev in s.events:
        st.caption(ev.message)
    if s.done and st.session_state.get("_sr_results_for") != id(s):
        # draw the results section: a whole-page run. Asked again at every tick until that
        # run has drawn them (a rerun request can be superseded by another event)
        st.rerun(scope="app")


if current is not None and current.done:  # this whole-page run draws the results below
    st.session_state["_sr_results_for"] = id(current)
st.subheader("Progress")
st.fragment(progress_panel, run_every=0.5 if running else None)()


# ============================================================================ results
def use_run(s, run_id: int):
    r = s.results[run_id]
    model = build_model(r.config)
    model.load_state_dict(r.state)
    entry = ui.session.add_model(f"search: {r.label}", model, "search", config=r.config,
                                 history=r.history, note=f"run {r.run_id} of a search ({r.status})")
    st.session_state["_sr_used"] = (entry.name, entry.metrics["test_acc"])


s = search_state()
if s is not None and s.done:
    st.subheader("Results")
    best = s.best
    if best is not None:
        acc = best.last.get("val_acc")
        st.success(f"Best run: **{best.label}** · validation accuracy "
                   f"{acc:.2%}" if acc is not None else f"Best run: **{best.label}**",
                   icon=":material/emoji_events:")
    used = st.session_state.get("_sr_used")
    with_state = [r for r in s.results if r.state is not None]
    if with_state:
        c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
        labels = {r.run_id: f"{r.label} ({r.status})" for r in with_state}
        default_id = best.run_id if best is not None and best.state is not None else \
            with_state[0].run_id
        pick = c1.selectbox("Use a run as the current model", list(labels),
                            index=list(labels).index(default_id),
                            format_func=lambda i: labels[i] + (" - best" if best is not None
                                                               and i == best.run_id else ""),
                            key="_sr_pick",
                            help="Its weights become a model of this session: the Mistakes, "
                                 "Draw and Inside pages then use it.")
        if c2.button("Use as current model", icon=":material/check_circle:", key="_sr_use",
                     type="primary"):
            use_run(s, pick)
            st.rerun()
    if used:
        st.caption(f"**{used[0]}** is now the current model (test accuracy {used[1]:.2%}): the "
                   "gallery, the canvas and the other pages use it.")

    rows = results_table(s.results)
    df = pd.DataFrame(rows)
    for col in ("val_acc", "train_acc"):
        if col in df:
            df[col] = df[col].astype(float)
    formats = {f: st.column_config.NumberColumn(f, format="%.4g") for f in s.varied
               if f in df and pd.api.types.is_float_dtype(df[f])}
    st.dataframe(
        df.style.apply(lambda row: ["background-color: rgba(123,198,126,0.25)"] * len(row)
                       if best is not None and row["run"] == best.run_id else [""] * len(row),
                       axis=1),
        hide_index=True, key="_sr_table",
        column_config={**formats,
                       "epochs": st.column_config.NumberColumn("epochs", format="%.2f"),
                       "seconds": st.column_config.NumberColumn("seconds", format="%.1f"),
                       "val_acc": st.column_config.NumberColumn("val acc", format="percent"),
                       "train_acc": st.column_config.NumberColumn("train acc",
                                                                  format="percent"),
                       "val_loss": st.column_config.NumberColumn("val loss", format="%.4f"),
                       "train_loss": st.column_config.NumberColumn("train loss",
                                                                   format="%.4f")})
    st.download_button("Download results (CSV)", results_csv(s.results), "search_results.csv",
                       "text/csv", icon=":material/download:", key="_sr_download")
    runs = [r.to_dict() for r in s.results]
    if "lr" in s.varied and len({r.config.lr for r in s.results}) > 2:
        st.plotly_chart(accuracy_vs_lr(runs, best=best.run_id if best else None),
                        config={"displayModeBar": False}, key="_sr_ucurve")
        st.caption("Too small a learning rate learns slowly, too big a one overshoots (or "
                   "diverges: red x); the best is in between, on a log scale.")
    if len(s.varied) >= 2:
        st.plotly_chart(parallel_coordinates(rows, s.varied), key="_sr_parcoords")
        st.caption("Drag along an axis to select a range of runs.")

# ============================================================================ LR range test
st.subheader("Learning-rate range test")
st.caption("One short run in which the learning rate grows exponentially every batch, from "
           "1e-5 to 10, while the loss is recorded (Leslie Smith's test). Where the loss falls "
           "fastest up to a tenth of where it is lowest is a good range to search. Seconds.")
lr_base = configs[0] if configs else TrainConfig(init="he", optimizer="sgd", batch_size=32)
st.markdown(f"On `{'-'.join(map(str, lr_base.sizes))}`, {lr_base.init} init, "
            f"{lr_base.optimizer}, batch {lr_base.batch_size} (the first run above).")
if st.button("Run the range test", icon=":material/speed:", key="_sr_lrfind"):
    with st.spinner("Raising the learning rate batch by batch ..."):
        res = lr_range_test(lr_base.replace(subset=None), train_ds, steps=300)
    st.session_state["_sr_lr_result"] = res.to_dict()
res = st.session_state.get("_sr_lr_result")
if res:
    st.plotly_chart(lr_finder_plot(res), config={"displayModeBar": False}, key="_sr_lrplot")
    if res["suggested"]:
        lo, hi = res["suggested"]
        st.success(f"Suggested range: **{lo:.2g} to {hi:.2g}**. {res['message']}.",
                   icon=":material/lightbulb:")
        st.button("Search this range", on_click=use_suggested_range, args=(lo, hi, res["config"]),
                  icon=":material/tune:", key="_sr_use_range",
                  help="Sets up a custom grid of four learning rates in this range (same "
                       "network) above.")
    else:
        st.warning(res["message"], icon=":material/warning:")
