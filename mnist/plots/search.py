"""Plotly figures of a hyperparameter search, from plain data (no Streamlit here).

A run is a plain dict: `{"run_id", "label", "values" (varied field -> value), "status",
"history" (train() records)}` - `RunResult.to_dict()` in mnist.search makes one. Runs are
coloured by learning rate on a log colour scale when the learning rate varies (else one colour
per run); diverged runs end in an x and say so in the legend.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative, sample_colorscale
from plotly.subplots import make_subplots

from mnist.plots.style import BAD_COLOR, _finite, _layout
from mnist.search.space import LOG_FIELDS, format_value

COLORSCALE = "Plasma"
C0, C1 = 0.2, 1.0  # the part of COLORSCALE used (visible on the dark theme)
BEST_COLOR = "#7BC67E"


def run_colors(runs: list[dict], by: str = "lr") -> tuple[list[str], tuple | None]:
    """A colour per run: by log10 of `by` on COLORSCALE when it varies (and is positive),
    else a qualitative palette. Returns (colours, (lo, hi) in log10 or None)."""
    vals = [r["values"].get(by) for r in runs]
    if len(runs) > 1 and all(isinstance(v, (int, float)) and v > 0 for v in vals) and \
            len(set(vals)) > 1:
        logs = np.log10(np.asarray(vals, dtype=float))
        lo, hi = float(logs.min()), float(logs.max())
        pos = (logs - lo) / (hi - lo)
        # Plasma starts near black: keep to its visible part on the dark theme
        return sample_colorscale(COLORSCALE, list(C0 + (C1 - C0) * pos)), (lo, hi)
    palette = qualitative.Plotly
    return [palette[i % len(palette)] for i in range(len(runs))], None


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
    """Validation accuracy (left) and loss (right) against epoch, one colour per run, all runs
    overlaid. End-of-epoch validation points are solid lines with markers; the intra-epoch
    training figures (when the runs report them) are dotted lines of the same colour, so the
    curves move during an epoch. A diverged run ends in an x."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=("Validation accuracy (dotted: training)",
                                        "Loss (dotted: training)"))
    colors, lohi = run_colors(runs, color_by)
    diverged_shown = False
    for r, color in zip(runs, colors):
        h = r.get("history") or []
        diverged = r.get("status") == "diverged"
        name = r["label"] + (" (diverged)" if diverged else "")
        group = f"run{r['run_id']}"
        shown = False
        for key, col, dotted in (("train_acc", 2 - 1, True), ("val_acc", 1, False),
                                 ("train_loss", 2, True), ("val_loss", 2, False)):
            pts = [(rec["epoch"], rec.get(key)) for rec in h if rec.get(key) is not None]
            if not pts:
                continue
            xs, ys = zip(*pts)
            legend = not dotted and not shown
            shown = shown or legend
            fig.add_trace(go.Scatter(
                x=list(xs), y=_finite(ys), name=name, legendgroup=group, showlegend=legend,
                mode="lines" if dotted else "lines+markers",
                line=dict(color=color, width=1 if dotted else 2.5,
                          dash="dot" if dotted else "solid"),
                opacity=0.55 if dotted else 1.0, marker=dict(size=6),
                hovertemplate=f"{r['label']}<br>epoch %{{x:.2f}}<br>{key} %{{y:.4g}}"
                              "<extra></extra>"), row=1, col=col)
        if not shown and h:  # no validation figures at all: the dotted lines carry the name
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
    fig.update_yaxes(type="log", row=1, col=2)
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
    fig.update_xaxes(type="log", title="learning rate (log scale)")
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
    fig.update_xaxes(type="log", title="learning rate (log scale, raised every batch)")
    fig.update_yaxes(title="training loss")
    return _layout(fig, height=height, title="Learning-rate range test",
                   legend=dict(orientation="h", y=-0.25))
