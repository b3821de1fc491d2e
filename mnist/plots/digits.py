"""Figures of the digits themselves (the Dataset page): a clickable grid, one digit's pixel
values, digits per class, the class means and the pixel-intensity histogram.

Every function takes plain arrays (from `mnist.analysis.explore`) and returns a
`plotly.graph_objects.Figure`; no Streamlit here.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from mnist.analysis.explore import mosaic
from mnist.constants import SIDE
from mnist.plots.style import CLASSES, GREYS, TEST_COLOR, TRAIN_COLOR, VAL_COLOR, _layout


def digit_grid(mosaic: np.ndarray, labels, cols: int = 10, pad: int = 2,
               indices=None, title: str | None = None, height: int = 640) -> go.Figure:
    """A mosaic of digits (from `mnist.analysis.explore.mosaic`) as one image, with each
    digit's label in its corner. An invisible marker sits on every digit (customdata = its
    dataset index), so a click on the chart tells which digit was picked (no drag mode: in
    Plotly's box-select mode a plain click selects nothing)."""
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
    _layout(fig, height=height, title=title, dragmode=False, clickmode="event+select")
    return fig


def digit_heatmap(image: np.ndarray, title: str | None = None, show_values: bool = True,
                  height: int = 900, font_size: int = 11) -> go.Figure:
    """One 28x28 digit as a heatmap with each pixel's value (0-255) written in its cell.

    The numbers need room: "255" at 11 px is about 18 px wide, so a cell needs 22 px or more
    (the default height gives about 30 px a cell on a page-wide chart); no colour bar, so
    the cells get its width too."""
    img = np.asarray(image).reshape(SIDE, SIDE)
    fig = go.Figure(go.Heatmap(
        z=img, colorscale=GREYS, zmin=0, zmax=255, showscale=not show_values,
        text=img if show_values else None,
        texttemplate="%{text}" if show_values else None,
        textfont=dict(size=font_size),
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
