"""Plotly figures built from plain data (arrays, lists of records); no Streamlit here.

Pages call these and hand the figure to `st.plotly_chart`. Every function takes numbers in and
returns a `plotly.graph_objects.Figure`, so the figures can be tested (traces, shapes) and
reused by the CLI or a notebook. Colours follow the app's dark theme; add new figures by small
edits below the existing ones.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mnist.analysis.explore import mosaic
from mnist.constants import N_CLASSES, SIDE

CLASSES = list(range(N_CLASSES))
TRAIN_COLOR = "#4C9BE8"
VAL_COLOR = "#F2A541"
TEST_COLOR = "#7BC67E"
BAD_COLOR = "#E8574C"
TEMPLATE = "plotly_dark"
GREYS = [[0.0, "#000000"], [1.0, "#FFFFFF"]]


def _layout(fig: go.Figure, height: int | None = None, **kw) -> go.Figure:
    fig.update_layout(template=TEMPLATE, margin=dict(l=10, r=10, t=40, b=10),
                      paper_bgcolor="rgba(0,0,0,0)", height=height, **kw)
    return fig


def _finite(values) -> list:
    """None for missing or non-finite values (Plotly leaves a gap)."""
    out = []
    for v in values:
        out.append(v if v is not None and isinstance(v, (int, float)) and math.isfinite(v)
                   else None)
    return out


# -------------------------------------------------------------------------------- digits
def digit_grid(mosaic: np.ndarray, labels, cols: int = 10, pad: int = 2,
               indices=None, title: str | None = None, height: int = 640) -> go.Figure:
    """A mosaic of digits (from `mnist.analysis.explore.mosaic`) as one image, with each digit's label
    in its corner. An invisible marker sits on every digit (customdata = its dataset index),
    so a click or box selection on the chart tells which digit was picked."""
    mosaic = np.asarray(mosaic)
    labels = np.asarray(labels)
    n = len(labels)
    step = SIDE + pad
    fig = go.Figure(go.Heatmap(z=mosaic, colorscale=GREYS,
                               zmin=0, zmax=255, showscale=False, hoverinfo="skip"))
    k = np.arange(n)
    r, c = k // cols, k % cols
    cx = pad + c * step + SIDE / 2 - 0.5
    cy = pad + r * step + SIDE / 2 - 0.5
    idx = np.asarray(indices if indices is not None else k)
    text = [str(int(v)) if v >= 0 else "" for v in labels]
    hover = [f"#{int(i)}: label {t}" if i >= 0 else "" for i, t in zip(idx, text)]
    fig.add_trace(go.Scatter(
        x=cx, y=cy, mode="markers", customdata=idx, hovertext=hover, hoverinfo="text",
        marker=dict(size=max(8, int(height / (n // cols + 1) * 0.6)), opacity=0.01,
                    color="#FFFFFF", symbol="square"),
        showlegend=False, name="digits"))
    fig.add_trace(go.Scatter(
        x=pad + c * step + 1, y=pad + r * step + 3, mode="text", text=text,
        textfont=dict(color=VAL_COLOR, size=12), textposition="middle right",
        hoverinfo="skip", showlegend=False, name="labels"))
    fig.update_xaxes(visible=False, range=[-0.5, mosaic.shape[1] - 0.5], constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    _layout(fig, height=height, title=title, dragmode="select", clickmode="event+select")
    return fig


def digit_heatmap(image: np.ndarray, title: str | None = None, show_values: bool = True,
                  height: int = 560) -> go.Figure:
    """One 28x28 digit as a heatmap with each pixel's value (0-255) written in its cell."""
    img = np.asarray(image).reshape(SIDE, SIDE)
    fig = go.Figure(go.Heatmap(
        z=img, colorscale=GREYS, zmin=0, zmax=255, showscale=True,
        text=img if show_values else None,
        texttemplate="%{text}" if show_values else None,
        textfont=dict(size=7),
        hovertemplate="row %{y}, column %{x}: %{z}<extra></extra>"))
    fig.update_xaxes(range=[-0.5, SIDE - 0.5], constrain="domain", showgrid=False, dtick=4,
                     zeroline=False)
    fig.update_yaxes(range=[SIDE - 0.5, -0.5], constrain="domain", scaleanchor="x",
                     showgrid=False, dtick=4, zeroline=False)
    return _layout(fig, height=height, title=title)


def class_distribution(counts: dict) -> go.Figure:
    """Bars of digits per class, one bar group per set: `counts = {"train": (10,), ...}`."""
    colors = [TRAIN_COLOR, TEST_COLOR, VAL_COLOR]
    fig = go.Figure()
    for (name, cnt), color in zip(counts.items(), colors * 3):
        cnt = np.asarray(cnt)
        share = cnt / max(cnt.sum(), 1)
        fig.add_trace(go.Bar(x=CLASSES, y=cnt, name=name, marker_color=color,
                             customdata=share * 100,
                             hovertemplate="digit %{x}: %{y} (%{customdata:.1f}%)<extra>"
                                           + name + "</extra>"))
    fig.update_xaxes(title="digit", dtick=1)
    fig.update_yaxes(title="count")
    return _layout(fig, height=340, barmode="group", title="Digits per class",
                   legend=dict(orientation="h", y=1.12))


def mean_images(means: np.ndarray, title: str = "Mean image of each class",
                pad: int = 2) -> go.Figure:
    """The ten class means (10, 28, 28) side by side: one heatmap of a 1x10 mosaic (one
    trace, one pair of axes: cheap for the browser), the class under each."""
    means = np.nan_to_num(np.asarray(means, dtype=np.float32))
    n = len(means)
    step = SIDE + pad
    strip = mosaic(means, cols=n, pad=pad)  # one row
    fig = go.Figure(go.Heatmap(z=strip, colorscale=GREYS, zmin=0, zmax=255, showscale=False,
                               hovertemplate="%{z:.0f}<extra></extra>"))
    fig.update_xaxes(tickvals=[pad + i * step + SIDE / 2 - 0.5 for i in range(n)],
                     ticktext=[str(i) for i in range(n)], showgrid=False, zeroline=False,
                     range=[-0.5, strip.shape[1] - 0.5], constrain="domain")
    fig.update_yaxes(visible=False, range=[strip.shape[0] - 0.5, -0.5], scaleanchor="x",
                     constrain="domain")
    return _layout(fig, height=200, title=title)


def pixel_histogram(hist: np.ndarray, log: bool = True,
                    title: str = "Pixel intensities") -> go.Figure:
    """Counts of each intensity 0..255 (most pixels are 0: a log axis shows the rest)."""
    hist = np.asarray(hist)
    fig = go.Figure(go.Bar(x=np.arange(len(hist)), y=hist, marker_color=TRAIN_COLOR,
                           hovertemplate="intensity %{x}: %{y} pixels<extra></extra>"))
    fig.update_xaxes(title="intensity (0 = black, 255 = white)")
    fig.update_yaxes(title="pixels", type="log" if log else "linear")
    return _layout(fig, height=320, title=title, bargap=0)


# -------------------------------------------------------------------------------- training
def training_curves(history: list[dict], epochs: int | None = None,
                    height: int = 380) -> go.Figure:
    """Loss and accuracy against epochs (fractional for intra-epoch records), train and
    validation. A diverged run gets a red marker where it blew up."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"),
                        horizontal_spacing=0.08)
    x = [r["epoch"] for r in history]
    # With intra-epoch records, the train curve is drawn from those windows only: an epoch's
    # closing record averages the whole epoch and would show as a step back up.
    windows = any(float(e) % 1 for e in x)
    for key, name, color, col in (("train_loss", "train", TRAIN_COLOR, 1),
                                  ("val_loss", "validation", VAL_COLOR, 1),
                                  ("train_acc", "train", TRAIN_COLOR, 2),
                                  ("val_acc", "validation", VAL_COLOR, 2)):
        pts = [(e, r.get(key)) for e, r in zip(x, history) if r.get(key) is not None
               and not (windows and key.startswith("train") and float(e) % 1 == 0)]
        if not pts:
            continue
        xs, ys = zip(*pts)
        fig.add_trace(go.Scatter(x=list(xs), y=_finite(ys), name=name, legendgroup=name,
                                 showlegend=col == 1, mode="lines+markers",
                                 marker=dict(size=4 if key.startswith("train") else 7),
                                 line=dict(color=color)), row=1, col=col)
    bad = [r for r in history if r.get("status") == "diverged"]
    if bad:
        e = bad[-1]["epoch"]
        fig.add_vline(x=e, line=dict(color=BAD_COLOR, dash="dash"), row=1, col=1)
        blowup = bad[-1].get("blowup_loss")
        text = " diverged" if blowup is None else (
            f" loss → {blowup:.3g}" if isinstance(blowup, float) else f" loss → {blowup}")
        # an arrow shooting out of the top of the loss panel: the curve going to infinity
        fig.add_annotation(x=e, y=1, yref="y domain", text=text, showarrow=True, ax=0, ay=70,
                           arrowhead=2, arrowsize=1.5, arrowcolor=BAD_COLOR,
                           font=dict(color=BAD_COLOR), xanchor="left", row=1, col=1)
    xmax = max([epochs or 0] + x) if x else (epochs or 1)
    fig.update_xaxes(title="epoch", range=[0, xmax * 1.02 if xmax else 1])
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 1.0], tickformat=".0%", row=1, col=2)
    return _layout(fig, height=height, legend=dict(orientation="h", y=1.15))


def confusion_heatmap(cm: np.ndarray, title: str = "Confusion matrix") -> go.Figure:
    """C[i, j] = digits of true class i predicted as j; the diagonal is what it got right."""
    cm = np.asarray(cm)
    fig = go.Figure(go.Heatmap(
        z=np.log1p(cm), x=CLASSES, y=CLASSES, text=cm, texttemplate="%{text}",
        colorscale="Blues", showscale=False,
        hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>"))
    fig.update_xaxes(title="predicted", dtick=1, side="bottom", range=[-0.5, 9.5],
                     constrain="domain")
    fig.update_yaxes(title="true", dtick=1, range=[9.5, -0.5], scaleanchor="x",
                     constrain="domain")
    return _layout(fig, height=420, title=title)


def per_class_accuracy(acc, title: str = "Accuracy per class") -> go.Figure:
    """Bars of each class's accuracy (recall); a missing class (NaN) has no bar."""
    acc = [None if a is None or not math.isfinite(a) else float(a) for a in acc]
    fig = go.Figure(go.Bar(x=CLASSES, y=acc, marker_color=TEST_COLOR,
                           text=[f"{a:.1%}" if a is not None else "" for a in acc],
                           textposition="outside",
                           hovertemplate="digit %{x}: %{y:.2%}<extra></extra>"))
    lo = min([a for a in acc if a is not None] or [0.0])
    fig.update_xaxes(title="digit", dtick=1)
    fig.update_yaxes(title="accuracy", tickformat=".0%", range=[max(0.0, lo - 0.1), 1.05])
    return _layout(fig, height=340, title=title)


def softmax_heatmap(probs: np.ndarray, labels=None, indices=None,
                    height: int | None = None) -> go.Figure:
    """The network's ten output probabilities for a few digits, one row per digit, each cell
    printed (the tutorials' printout, coloured). One heatmap: cheap for the browser."""
    probs = np.asarray(probs, dtype=np.float64)
    n = len(probs)
    idx = list(indices) if indices is not None else list(range(n))
    preds = probs.argmax(1)
    rows = []
    for k in range(n):
        r = f"#{idx[k]}: "
        if labels is not None:
            mark = "ok" if int(preds[k]) == int(labels[k]) else "WRONG"
            r += f"true {int(labels[k])}, said {int(preds[k])} ({mark})"
        else:
            r += f"said {int(preds[k])}"
        rows.append(r)
    fig = go.Figure(go.Heatmap(
        z=probs, x=CLASSES, y=rows, text=np.round(probs, 2), texttemplate="%{text:.2f}",
        colorscale="Blues", zmin=0, zmax=1, showscale=False,
        hovertemplate="%{y}<br>P(%{x}) = %{z:.4f}<extra></extra>"))
    fig.update_xaxes(title="class", dtick=1, side="top")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, height=height or 80 + 34 * n)
