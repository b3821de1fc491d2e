"""Plotly figures of a hyperparameter search, from plain data (no Streamlit here).

A run is a plain dict: `{"run_id", "label", "values" (varied field -> value), "status",
"history" (train() records)}` - `RunResult.to_dict()` in mnist.search makes one. A handful of
runs (up to MAX_DISTINCT) get one distinct colour each from a qualitative palette, in order of
learning rate; more runs are coloured by learning rate on a log colour scale. Diverged runs end
in an x and say so in the legend. Log axes are labelled with whole numbers (0.05, 0.1, 0.2),
never a bare "2" or "5" without its decade.

`optuna_figures(study)` adds Optuna's own figures of a study where they make sense.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from mnist.plots.style import BAD_COLOR, _finite, _layout
from mnist.search.space import LOG_FIELDS, format_value

COLORSCALE = "Plasma"
C0, C1 = 0.2, 1.0  # the part of COLORSCALE used (visible on the dark theme)
BEST_COLOR = "#7BC67E"
# Plotly's ten qualitative colours, ordered so that the first few are the furthest apart (a
# comparison is often 3-5 runs): told apart at a glance on the dark theme
PALETTE = ["#636EFA", "#FECB52", "#00CC96", "#FF97FF", "#EF553B", "#19D3F3", "#B6E880",
           "#FF6692", "#AB63FA", "#FFA15A"]
MAX_DISTINCT = len(PALETTE)  # up to this many runs: one palette colour each


def run_colors(runs: list[dict], by: str = "lr") -> tuple[list[str], tuple | None]:
    """A colour per run. Up to MAX_DISTINCT runs: one distinct palette colour each, handed out
    in order of `by` when it varies (so the colours read in the order of the learning rates).
    More runs: by log10 of `by` on COLORSCALE when it varies (and is positive), else the
    palette again. Returns (colours, (lo, hi) in log10 when a colour bar is needed, or None)."""
    vals = [r["values"].get(by) for r in runs]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
    if len(runs) <= MAX_DISTINCT:
        order = sorted(range(len(runs)), key=lambda i: (vals[i], i)) if numeric else \
            list(range(len(runs)))
        colors = [""] * len(runs)
        for rank, i in enumerate(order):
            colors[i] = PALETTE[rank]
        return colors, None
    if numeric and all(v > 0 for v in vals) and len(set(vals)) > 1:
        logs = np.log10(np.asarray(vals, dtype=float))
        lo, hi = float(logs.min()), float(logs.max())
        pos = (logs - lo) / (hi - lo)
        # Plasma starts near black: keep to its visible part on the dark theme
        return sample_colorscale(COLORSCALE, list(C0 + (C1 - C0) * pos)), (lo, hi)
    return [PALETTE[i % len(PALETTE)] for i in range(len(runs))], None


def log_ticks(values, max_decades: float = 3.0) -> dict:
    """Tick marks for a log axis over `values`: 1, 2 and 5 times each power of ten when the
    data span up to `max_decades` decades, powers of ten beyond, each labelled in full
    ("0.05", "0.2", "1e+03"), so no label is a bare mantissa. {} when there is nothing."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x) and x > 0], float)
    if not v.size:
        return {}
    lo, hi = math.floor(math.log10(v.min())), math.ceil(math.log10(v.max()))
    steps = (1, 2, 5) if hi - lo <= max_decades else (1,)
    ticks = [m * 10.0 ** e for e in range(lo, hi + 1) for m in steps]
    # the marks inside the data, and one either side so the ends are named
    inside = [t for t in ticks if v.min() <= t <= v.max()]
    below = [t for t in ticks if t < v.min()][-1:]
    above = [t for t in ticks if t > v.max()][:1]
    ticks = below + inside + above
    return dict(tickmode="array", tickvals=ticks, ticktext=[f"{t:.10g}" for t in ticks],
                minor=dict(showgrid=False, ticks=""))


def _colorbar_trace(lohi, by: str, row=None, col=None):
    lo, hi = lohi
    ticks = list(range(math.ceil(lo), math.floor(hi) + 1)) or [lo, hi]
    return go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
                      marker=dict(colorscale=[[t, c] for t, c in zip(
                                      np.linspace(0, 1, 6), sample_colorscale(
                                          COLORSCALE, list(np.linspace(C0, C1, 6))))],
                                  cmin=lo, cmax=hi, color=[lo], showscale=True,
                                  colorbar=dict(title=by, tickvals=ticks, thickness=12,
                                                ticktext=[f"{10 ** t:g}" for t in ticks])))


def search_curves(runs: list[dict], epochs: int | None = None, height: int = 420,
                  color_by: str = "lr") -> go.Figure:
    """Accuracy (left) and loss (right) against epoch, one colour per run, all runs overlaid.
    Validation figures (at the end of each epoch, and within it when the runs measure them)
    are thick lines with markers; the training figures of each stretch of batches are thin
    solid lines of the same colour, so a run that oscillates is seen oscillating and the
    curves move during an epoch. A diverged run ends in an x."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=("Accuracy (thick: validation, thin: training)",
                                        "Loss (thick: validation, thin: training)"))
    colors, lohi = run_colors(runs, color_by)
    diverged_shown = False
    for r, color in zip(runs, colors):
        h = r.get("history") or []
        diverged = r.get("status") == "diverged"
        name = r["label"] + (" (diverged)" if diverged else "")
        group = f"run{r['run_id']}"
        shown = False
        for key, col, thin in (("train_acc", 1, True), ("val_acc", 1, False),
                               ("train_loss", 2, True), ("val_loss", 2, False)):
            pts = [(rec["epoch"], rec.get(key)) for rec in h if rec.get(key) is not None]
            if not pts:
                continue
            xs, ys = zip(*pts)
            legend = not thin and not shown
            shown = shown or legend
            fig.add_trace(go.Scatter(
                x=list(xs), y=_finite(ys), name=name, legendgroup=group, showlegend=legend,
                mode="lines" if thin else "lines+markers",
                line=dict(color=color, width=1.3 if thin else 2.5, dash="solid"),
                opacity=0.85 if thin else 1.0, marker=dict(size=5),
                hovertemplate=f"{r['label']}<br>epoch %{{x:.2f}}<br>{key} %{{y:.4g}}"
                              "<extra></extra>"), row=1, col=col)
        if not shown and h:  # no validation figures at all: the thin lines carry the name
            fig.data[-1].showlegend = True
        if diverged and h:
            last = h[-1]
            for key, col in (("val_acc", 1), ("train_loss", 2)):
                y = last.get(key)
                if y is None or not math.isfinite(y):
                    continue
                fig.add_trace(go.Scatter(
                    x=[last["epoch"]], y=[y], mode="markers", legendgroup="diverged",
                    name="diverged", showlegend=not diverged_shown,
                    marker=dict(symbol="x", size=14, color=BAD_COLOR,
                                line=dict(width=2, color=color)),
                    hovertemplate=f"{r['label']} diverged at epoch %{{x:.2f}}<extra></extra>"),
                    row=1, col=col)
                diverged_shown = True
    if lohi:
        fig.add_trace(_colorbar_trace(lohi, color_by), row=1, col=2)
    xmax = max([epochs or 0] + [rec["epoch"] for r in runs for rec in r.get("history") or []])
    fig.update_xaxes(title="epoch", range=[0, max(xmax, 1) * 1.03])
    fig.update_yaxes(range=[0, 1.0], tickformat=".0%", row=1, col=1)
    losses = [rec.get(k) for r in runs for rec in r.get("history") or []
              for k in ("train_loss", "val_loss")]
    fig.update_yaxes(type="log", row=1, col=2, **log_ticks(losses))
    return _layout(fig, height=height, legend=dict(orientation="h", y=-0.18),
                   hovermode="closest")


def accuracy_vs_lr(runs: list[dict], best: int | None = None, height: int = 380,
                   metric: str = "val_acc") -> go.Figure:
    """Final validation accuracy against learning rate on a log axis: the U-curve (upside
    down). Diverged runs are red x's at the accuracy of their last good weights; the best run is
    a green star."""
    fig = go.Figure()
    pts = []
    for r in runs:
        h = r.get("history") or []
        last = next((rec for rec in reversed(h) if rec.get(metric) is not None), None)
        lr = r["values"].get("lr", (r.get("config") or {}).get("lr"))
        if last is None or lr is None:
            continue
        pts.append((float(lr), last[metric], r))
    pts.sort(key=lambda p: p[0])
    ok = [p for p in pts if p[2]["status"] != "diverged"]
    bad = [p for p in pts if p[2]["status"] == "diverged"]
    if ok:
        fig.add_trace(go.Scatter(
            x=[p[0] for p in ok], y=[p[1] for p in ok], mode="lines+markers", name="finished",
            text=[p[2]["label"] for p in ok], line=dict(color="#4C9BE8"), marker=dict(size=9),
            hovertemplate="%{text}<br>" + metric + " %{y:.2%}<extra></extra>"))
    if bad:
        fig.add_trace(go.Scatter(
            x=[p[0] for p in bad], y=[p[1] for p in bad], mode="markers", name="diverged",
            text=[p[2]["label"] for p in bad],
            marker=dict(symbol="x", size=14, color=BAD_COLOR),
            hovertemplate="%{text}<br>diverged (last good weights: %{y:.2%})<extra></extra>"))
    top = [p for p in pts if p[2]["run_id"] == best]
    if top:
        fig.add_trace(go.Scatter(
            x=[top[0][0]], y=[top[0][1]], mode="markers", name="best",
            marker=dict(symbol="star", size=20, color=BEST_COLOR, line=dict(width=1)),
            hovertemplate="best: %{y:.2%}<extra></extra>"))
    fig.update_xaxes(type="log", title="learning rate (log scale)",
                     **log_ticks([p[0] for p in pts]))
    fig.update_yaxes(title="validation accuracy" if metric == "val_acc" else metric,
                     tickformat=".0%", range=[0, 1.02])
    return _layout(fig, height=height, title="Final accuracy against learning rate",
                   legend=dict(orientation="h", y=-0.25))


def parallel_coordinates(rows: list[dict], dims: list[str], color: str = "val_acc",
                         height: int = 420) -> go.Figure:
    """One line per run through the varied hyperparameters to the final accuracy. Numbers stay
    numbers (lr and weight decay on a log10 axis); names and layer sizes become categories."""
    rows = [r for r in rows if r.get(color) is not None]
    dimensions = []
    for d in dims:
        vals = [r.get(d) for r in rows]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            arr = np.asarray(vals, dtype=float)
            if d in LOG_FIELDS and (arr > 0).all():
                logs = np.log10(arr)
                ticks = sorted(set(np.round(logs).astype(int).tolist()))
                dimensions.append(dict(label=f"{d} (log)", values=logs, tickvals=ticks,
                                       ticktext=[f"{10.0 ** t:g}" for t in ticks]))
            else:
                dimensions.append(dict(label=d, values=arr))
        else:
            cats = sorted({format_value(v) for v in vals})
            codes = [cats.index(format_value(v)) for v in vals]
            dimensions.append(dict(label=d, values=codes, tickvals=list(range(len(cats))),
                                   ticktext=cats))
    accs = [float(r[color]) for r in rows]
    dimensions.append(dict(label=color, values=accs, range=[min(accs + [0.0]), 1.0]))
    fig = go.Figure(go.Parcoords(
        line=dict(color=accs, colorscale="Viridis", showscale=True, cmin=min(accs or [0]),
                  cmax=max(accs or [1]), colorbar=dict(title=color, thickness=12)),
        dimensions=dimensions))
    return _layout(fig, height=height, title="Each line is a run")


def lr_finder_plot(result: dict, height: int = 360) -> go.Figure:
    """The LR range test: batch loss (faint) and its smoothed curve against the learning rate
    on a log axis, with the suggested range shaded and its ends marked."""
    lrs, losses, smooth = result["lrs"], result["losses"], result["smoothed"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=lrs, y=_finite(losses), mode="lines", name="batch loss",
                             line=dict(color="#888888", width=1), opacity=0.6))
    fig.add_trace(go.Scatter(x=lrs, y=_finite(smooth), mode="lines", name="smoothed loss",
                             line=dict(color="#F2A541", width=3)))
    sug = result.get("suggested")
    if sug:
        lo, hi = sug
        fig.add_vrect(x0=lo, x1=hi, fillcolor=BEST_COLOR, opacity=0.18, line_width=0,
                      annotation_text="suggested range", annotation_position="top left")
    for key, name, symbol in (("steepest_lr", "steepest descent", "triangle-down"),
                              ("min_lr", "lowest loss", "circle")):
        lr = result.get(key)
        if lr:
            y = float(np.interp(np.log(lr), np.log(lrs), smooth))
            fig.add_trace(go.Scatter(x=[lr], y=[y], mode="markers", name=f"{name} ({lr:.2g})",
                                     marker=dict(symbol=symbol, size=12, color=BEST_COLOR)))
    if smooth:
        start = smooth[0]
        fig.update_yaxes(range=[0, max(min(max(smooth), 3 * start), min(smooth) + 1e-3) * 1.1])
    fig.update_xaxes(type="log", title="learning rate (log scale, raised every batch)",
                     **log_ticks(lrs))
    fig.update_yaxes(title="training loss")
    return _layout(fig, height=height, title="Learning-rate range test",
                   legend=dict(orientation="h", y=-0.25))


OPTUNA_TITLES = {"intermediate": "Epoch by epoch", "timeline": "Timeline",
                 "importances": "Importances", "parallel": "Parallel coordinates",
                 "contour": "Contour", "slice": "Slice"}


def optuna_figures(ostudy, sampler: str, runs: dict | None = None
                   ) -> list[tuple[str, str, go.Figure]]:
    """Optuna's own figures of a study (`ostudy`: an optuna.Study), where they make sense, as
    (key, caption, figure): how validation accuracy went epoch by epoch (the values a pruner
    compares) and when each trial ran; for random and TPE searches over two or more settings
    (their trials hold drawn parameters) which settings mattered, each trial through them,
    and accuracy over pairs of settings and along each one. `runs`: trial number -> (label,
    colour), so the epoch-by-epoch lines read like our curves."""
    import warnings

    from optuna import visualization as V
    from optuna.trial import TrialState

    trials = ostudy.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    wanted = []
    if any(len(t.intermediate_values) >= 2 for t in trials):
        wanted.append(("intermediate", "Validation accuracy at the end of each epoch: the "
                       "values a pruner compares.", V.plot_intermediate_values))
    if any(t.datetime_start for t in trials):
        wanted.append(("timeline", "When each run trained, and how it ended.",
                       V.plot_timeline))
    params = {k for t in complete for k in t.params}
    if sampler in ("random", "tpe") and len(params) >= 2 and len(complete) >= 2:
        wanted += [
            ("importances", "Which settings mattered most for validation accuracy (fANOVA).",
             V.plot_param_importances),
            ("parallel", "Each run through its settings to its accuracy.",
             V.plot_parallel_coordinate),
            ("contour", "Accuracy over each pair of settings (interpolated between the runs).",
             V.plot_contour),
            ("slice", "Accuracy along each setting.", V.plot_slice)]
    out = []
    for key, caption, plot in wanted:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # some are "experimental" in Optuna 5
                fig = plot(ostudy)
        except (ValueError, RuntimeError, ZeroDivisionError):
            continue  # too few trials of the right kind for this figure yet
        if not fig.data:
            continue
        if key == "intermediate" and runs:
            for t in fig.data:  # Optuna names them "Trial<number>"
                label, color = runs.get(int(str(t.name)[5:] or -1), (t.name, None))
                t.update(name=label, line=dict(color=color), marker=dict(color=color))
            fig.update_layout(xaxis_title="epoch", yaxis_title="validation accuracy")
        out.append((key, caption, _layout(fig, height=420)))
    return out
