"""The Search page's views of a study: the plan's summary, the runs' progress, the results, the
session's studies, and the links that open a study or fill the form.

Each run shows what it is, in the engine's words: queued (with its place in the pool's queue),
running, done, diverged, pruned, stopped, cancelled before it started, or failed. Epochs are
numbered as training's messages number them (`widgets.fmt_epoch`: "epoch 1 of 3, batch 3 of
282"), in the progress bars and the table alike, as on the Train page.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from mnist.engine.study import Study
from mnist.errors import EngineError
from mnist.plots.search import (OPTUNA_TITLES, accuracy_vs_lr, optuna_figures,
                                parallel_coordinates, run_colors)
from mnist.plots.training import history_batches_per_epoch
from mnist.search.results import results_csv
from mnist.search.space import FIELDS, format_value
from ui import session, studies, widgets
from ui.search_form import CUSTOM

SHARED_KEY = "_sr_shared"  # the study whose id the URL carries (shared, or opened by link)
LINK_STUDY_KEY = "_sr_link_study"  # the URL's study, once opened
RANGE_KEY = "_sr_range_applied"  # the LR range test's range, just put into the form
STATUS_WORDS = {"waiting": "queued", "running": "running", "complete": "done",
                "diverged": "diverged", "pruned": "pruned", "stopped": "stopped",
                "cancelled": "cancelled (never started)", "failed": "failed"}


# ---------------------------------------------------------------------------- links
def open_linked_study() -> None:
    """The URL's `?study=<id>`: opened once and shown (an unknown id says so)."""
    sid = st.query_params.get("study")
    if not sid or st.session_state.get(LINK_STUDY_KEY) == sid:
        return
    st.session_state[LINK_STUDY_KEY] = sid
    try:
        studies.open_by_id(sid)
    except EngineError as e:
        st.error(f"This link's study cannot be opened: {e}.", icon=":material/link_off:")
    else:
        st.session_state[SHARED_KEY] = sid


def shared_study_id() -> str | None:
    sid = st.session_state.get(SHARED_KEY)
    return sid if sid and sid == st.session_state.get(studies.CURRENT_KEY) else None


def use_suggested_range(lo: float, hi: float, cfg: dict) -> None:
    """LR range test -> the search form: a custom grid of 4 learning rates in the range, on
    the network the test ran on (a button's callback: runs before the widgets are drawn)."""
    s = st.session_state
    s["sr_preset"] = CUSTOM
    s["sr_hidden"] = ", ".join(str(h) for h in cfg["hidden"])
    for key, field in (("sr_activation", "activation"), ("sr_init", "init"),
                       ("sr_optimizer", "optimizer")):
        s[key] = cfg[field]
    s["sr_batch"] = int(cfg["batch_size"] or 128)
    s["sr_lr"] = float(np.sqrt(lo * hi))
    s["sr_vary"], s["sr_sampler"] = ["lr"], "grid"
    s["sr_grid_lr"] = ", ".join(f"{v:.2g}" for v in np.geomspace(lo, hi, 4))
    s["sr_lo_lr"], s["sr_hi_lr"] = float(lo), float(hi)
    s[RANGE_KEY] = (lo, hi, True)


def range_applied_note() -> None:
    """Where "Search this range" was clicked: what it did, a link up to the form, and (once)
    a toast and a scroll up to the form, which is far above the button."""
    applied = st.session_state.get(RANGE_KEY)
    if not applied:
        return
    lo, hi, fresh = applied
    st.success(f"The search form now compares **4 learning rates from {lo:.2g} to {hi:.2g}** "
               "on this network: [go to the form ↑](#what-to-compare) and press **Start the "
               "search**.", icon=":material/arrow_upward:")
    if fresh:
        st.session_state[RANGE_KEY] = (lo, hi, False)
        st.toast(f"Search form set: 4 learning rates from {lo:.2g} to {hi:.2g}.",
                 icon=":material/tune:")
        st.html("<script>setTimeout(() => document.getElementById('what-to-compare')"
                "?.scrollIntoView({behavior: 'smooth', block: 'start'}), 300);</script>",
                unsafe_allow_javascript=True)


# ---------------------------------------------------------------------------- before a start
def plan_summary(plan, n_train: int, val_fraction: float, workers: int, est: float) -> None:
    cfgs = plan.configs
    n, epochs = len(cfgs), cfgs[0].epochs
    digits = cfgs[0].subset or n_train
    how = (f" drawn by the {'TPE' if plan.study.get('sampler') == 'tpe' else 'random'} "
           "sampler as they start" if plan.drawn else "")
    st.markdown(f"**{n} run{'s' if n > 1 else ''}**{how} of {epochs} epoch"
                f"{'s' if epochs > 1 else ''} on {digits:,} digits ({val_fraction:.0%} held "
                f"out to validate), {min(workers, n)} at a time on the server's worker "
                f"processes: about **{widgets.fmt_duration(est)}**"
                + (" (less when runs are pruned)" if plan.study.get("pruner", "none") != "none"
                   else "") + ".")
    with st.expander("The runs" if not plan.drawn else "The space the runs are drawn from"):
        if plan.drawn:
            for name, spec in plan.study["space"].items():
                if hasattr(spec, "lo"):
                    log = spec.is_log(name) if hasattr(spec, "is_log") else spec.log
                    text = f"{format_value(spec.lo)} to {format_value(spec.hi)}" + \
                        (" (log scale)" if log else "")
                else:
                    text = ", ".join(format_value(v) for v in getattr(spec, "options", spec))
                st.markdown(f"- **{FIELDS[name].label or name}**: {text}")
            return
        keep = ("hidden", "init", "optimizer", "lr", "batch_size", "epochs", "seed", "momentum",
                "weight_decay", "dropout", "activation")
        st.dataframe(pd.DataFrame([{"run": i, "network": c.spec,
                                    **{k: format_value(v) for k, v in c.to_dict().items()
                                       if k in keep}}
                                   for i, c in enumerate(cfgs)]), hide_index=True)


# ---------------------------------------------------------------------------- while it runs
def unfinished(study: Study) -> bool:
    try:
        return any(not t.finished for t in study.trials())
    except Exception:  # unreadable now: the panel says why
        return False


def _where(t, study: Study) -> str:
    epochs = (t.config or study.base).epochs
    return widgets.fmt_epoch(t.epochs_done, epochs, history_batches_per_epoch(t.records))


def _last_val(t) -> float | None:
    return next((r["val_acc"] for r in reversed(t.records) if r.get("val_acc") is not None),
                None)


def header(study: Study, trials: list, done: bool) -> str:
    counts = {}
    for t in trials:
        counts[STATUS_WORDS[t.status]] = counts.get(STATUS_WORDS[t.status], 0) + 1
    starts = [t.started for t in trials if t.started]
    ends = [t.finished_at for t in trials if t.finished_at]
    took = ((max(ends) if done and ends else time.time()) - min(starts)) if starts else 0.0
    what = " · ".join(f"{n} {word}" for word, n in counts.items())
    return (f"**{study.title or 'Search'}**: {what} · {widgets.fmt_duration(took)}"
            + (" · finished" if done else ""))


def run_line(t, study: Study, place: int | None) -> str:
    acc = _last_val(t)
    acc_text = f" · val acc {acc:.1%}" if acc is not None else ""
    label = t.label
    if t.status == "waiting":
        return f"{label}: queued" + (f", place {place} in the server's queue" if place else "")
    if t.status == "cancelled":
        return f"{label}: cancelled before it started"
    if t.status == "running":
        return f"{label}: running, {_where(t, study)}{acc_text}"
    if t.status == "complete":
        return f"{label}: done{acc_text}"
    if t.status == "failed":
        return f"{label}: failed at {_where(t, study)} · {t.message}"
    return f"{label}: {t.status} at {_where(t, study)}{acc_text}"


def run_bars(study: Study, trials: list, places: list[int]) -> None:
    waiting = [t.number for t in trials if t.status == "waiting"]
    place = dict(zip(waiting, places))
    cols = st.columns(2)
    for i, t in enumerate(trials):
        cols[i % 2].progress(t.progress, text=run_line(t, study, place.get(t.number)))


def resume_offer(study: Study, trials: list, places: list[int]) -> None:
    """Runs that wait with no worker to take them (the study was stopped, or queued on a
    server that has restarted since) can be queued here again."""
    cancelled = sum(t.status == "cancelled" for t in trials)
    idle = not places and not studies.pool().running(study.id) and not any(
        t.status == "running" for t in trials)
    stranded = sum(t.status == "waiting" for t in trials) if idle else 0
    n = cancelled or stranded
    if not n:
        return
    runs, them = (f"{n} runs", "them") if n > 1 else ("1 run", "it")
    c1, c2 = st.columns([5, 2], vertical_alignment="center")
    c1.caption(f"{runs} never started." if cancelled else
               f"{runs} wait for a worker, but none here has {them} queued (the server has "
               "restarted since, or they wait for workers elsewhere).")
    if c2.button(f"Run {them} now", key="_sr_resume", icon=":material/play_arrow:",
                 use_container_width=True):
        studies.resume(study)
        st.rerun(scope="app")


# ---------------------------------------------------------------------------- afterwards
def result_rows(study: Study, trials: list) -> list[dict]:
    """The results table: one row per run, its status and epoch as the page says them."""
    rows = []
    for t in trials:
        last = t.to_result().last
        row = {"run": t.number}
        row.update({k: format_value(v) if isinstance(v, (tuple, list)) else v
                    for k, v in t.values.items()})
        row.update(status=STATUS_WORDS[t.status],
                   epoch=_where(t, study) if t.records else "not started",
                   val_acc=last.get("val_acc"), val_loss=last.get("val_loss"),
                   train_acc=last.get("train_acc"), train_loss=last.get("train_loss"),
                   seconds=round(t.records[-1]["elapsed"], 2) if t.records else None,
                   message=t.message)
        rows.append(row)
    return rows


def results(study: Study) -> None:
    """The results of a finished study: the best run, any run as the session's model, the
    table, and the figures that make sense for it."""
    st.subheader("Results")
    trials = study.trials()
    best = study.best()
    if best is not None:
        st.success(f"Best run: **{best.label}** · validation accuracy {best.value:.2%}",
                   icon=":material/emoji_events:")
    _use_a_run(study, trials, best)
    df = pd.DataFrame(result_rows(study, trials))
    for col in ("val_acc", "train_acc", "val_loss", "train_loss", "seconds"):
        df[col] = df[col].astype(float)
    varied = list(trials[0].values) if trials else []
    formats = {f: st.column_config.NumberColumn(f, format="%.4g") for f in varied
               if f in df and pd.api.types.is_float_dtype(df[f])}
    st.dataframe(
        df.style.apply(lambda row: ["background-color: rgba(123,198,126,0.25)"] * len(row)
                       if best is not None and row["run"] == best.number else [""] * len(row),
                       axis=1),
        hide_index=True, key="_sr_table",
        column_config={**formats,
                       "seconds": st.column_config.NumberColumn("seconds", format="%.1f"),
                       "val_acc": st.column_config.NumberColumn("val acc", format="percent"),
                       "train_acc": st.column_config.NumberColumn("train acc",
                                                                  format="percent"),
                       "val_loss": st.column_config.NumberColumn("val loss", format="%.4f"),
                       "train_loss": st.column_config.NumberColumn("train loss",
                                                                   format="%.4f")})
    st.download_button("Download results (CSV)", results_csv([t.to_result() for t in trials]),
                       "search_results.csv", "text/csv", icon=":material/download:",
                       key="_sr_download")
    runs = [t.to_result().to_dict() for t in trials]
    if "lr" in varied and len({t.values.get("lr") for t in trials}) > 2:
        st.plotly_chart(accuracy_vs_lr(runs, best=best.number if best else None),
                        config={"displayModeBar": False}, key="_sr_ucurve")
        st.caption("Too small a learning rate learns slowly, too big a one overshoots (or "
                   "diverges: red x); the best is in between, on a log scale.")
    if len(varied) >= 2 and study.sampler == "grid":
        st.plotly_chart(parallel_coordinates(df.to_dict("records"), varied),
                        key="_sr_parcoords")
        st.caption("Drag along an axis to select a range of runs.")
    colors, _ = run_colors(runs)
    figs = optuna_figures(study.optuna, study.sampler,
                          {r["run_id"]: (r["label"], c) for r, c in zip(runs, colors)})
    if figs:
        st.markdown("**Optuna's own figures of this study**")
        for tab, (key, caption, fig) in zip(st.tabs([OPTUNA_TITLES[k] for k, _, _ in figs]),
                                            figs):
            with tab:
                st.plotly_chart(fig, key=f"_sr_optuna_{key}")
                st.caption(caption)


def _use_a_run(study: Study, trials: list, best) -> None:
    kept = [t for t in trials if t.weights]
    if not kept:
        return
    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    labels = {t.number: f"{t.label} ({STATUS_WORDS[t.status]})" for t in kept}
    default = best.number if best is not None and best.number in labels else kept[0].number
    pick = c1.selectbox("Use a run as the current model", list(labels),
                        index=list(labels).index(default),
                        format_func=lambda n: labels[n] + (" - best" if best is not None and
                                                           n == best.number else ""),
                        key="_sr_pick",
                        help="Its weights become a model of this session: the Mistakes, Draw "
                             "and Inside pages then use it.")
    if c2.button("Use as current model", icon=":material/check_circle:", key="_sr_use",
                 type="primary"):
        t = next(t for t in kept if t.number == pick)
        try:
            model = study.load_model(pick)
        except EngineError as e:
            st.error(str(e), icon=":material/error:")
        else:
            entry = session.add_model(f"search: {t.label}", model, "search", config=t.config,
                                      history=t.records,
                                      note=f"run {t.number} of study {study.id} ({t.status})")
            st.session_state["_sr_used"] = (entry.name, entry.metrics["test_acc"])
            st.rerun()
    used = st.session_state.get("_sr_used")
    if used:
        st.caption(f"**{used[0]}** is now the current model (test accuracy {used[1]:.2%}): the "
                   "gallery, the canvas and the other pages use it.")


# ---------------------------------------------------------------------------- my studies
def my_studies_panel() -> None:
    """This session's studies (and no one else's), opening one by id, sharing the shown one."""
    try:
        mine = studies.my_studies()
    except Exception as e:
        st.error(f"Cannot list the studies: {e}", icon=":material/database:")
        return
    current = st.session_state.get(studies.CURRENT_KEY)
    if mine:
        st.dataframe(pd.DataFrame([{
            "shown": "▶" if s.id == current else "", "title": s.title or "(untitled)",
            "id": s.id, "sampler": s.sampler, "pruner": s.pruner, "runs": s.n_trials,
            "best val acc": s.best_value,
            "created": pd.Timestamp(s.created, unit="s").strftime("%H:%M:%S")} for s in mine]),
            hide_index=True, key="_sr_mine",
            column_config={"best val acc": st.column_config.NumberColumn(format="percent")})
        others = {s.id: s for s in mine if s.id != current}
        if others:
            c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
            sid = c1.selectbox("Show another of my studies", list(others), key="_sr_show",
                               format_func=lambda i: f"{others[i].title or 'study'} ({i})")
            if c2.button("Show it", key="_sr_show_btn", icon=":material/visibility:"):
                studies.remember(studies.get(sid))
                st.rerun()
    else:
        st.caption("Studies you start in this session are listed here (only yours: nobody "
                   "else sees them without their id).")
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    typed = c1.text_input("Open a study by its id", key="_sr_open_id",
                          placeholder="e.g. a shared study's id")
    if c2.button("Open", key="_sr_open_btn", icon=":material/folder_open:"):
        try:
            studies.open_by_id(typed)
        except EngineError as e:
            st.error(f"{e}.", icon=":material/search_off:")
        else:
            st.rerun()
    if current:
        if st.button("Share this study", key="_sr_share", icon=":material/share:",
                     help="Puts the study's id in the address bar: whoever opens the link "
                          "sees this study (and only this one)."):
            st.session_state[SHARED_KEY] = current
            st.query_params["study"] = current
        if shared_study_id():
            st.code(studies.share_link(current), language=None, wrap_lines=True)
            st.caption("Anyone with this link sees this study; without its id nobody can "
                       "find it.")
