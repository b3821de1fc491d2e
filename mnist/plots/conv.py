"""Plotly figures of a conv net's insides, in the style of CNN Explainer: one small image per
channel (a feature map) or per filter, all of a layer on one shared colour scale.

    feature_maps_figure(maps (C, H, W), title)   a stage of `mnist.analysis.feature_maps`
    filters_figure(W (out, in, k, k))            the first conv layer's filters
    image_grid(images (n, h, w), labels, ...)    the grid both are made of

Each image is its own Heatmap on its own pair of axes, so hovering names the channel and its
value, and a test can read every channel back. The figure is rebuilt on every rerun of the
Inside page, for the 50-100 images a conv net shows, so it is built as plain values in one go
and not validated by plotly.py (`make_subplots` took about 0.25 s for 32 images, validating
the traces 0.1 s, an `update_layout` over 100 axes 0.2 s). So nothing plotly.py would have
resolved goes in by name: the theme and the colour scales are spelled out.
"""

from __future__ import annotations

import functools

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
import plotly.io as pio

from mnist.plots.style import TEMPLATE

ACTIVATION_SCALE = "Viridis"  # feature maps: dark = nothing found, bright = strong response
ROW_PX = (60, 120)  # a grid row's height (an image and its gap): few columns, larger images


def image_grid(images, labels=None, cols: int | None = None, title: str | None = None,
               colorscale=ACTIVATION_SCALE, zmin: float | None = None,
               zmax: float | None = None, zmid: float | None = None,
               colorbar_title: str = "", what: str = "value",
               height: int | None = None) -> go.Figure:
    """`images` (n, h, w) as a grid of `cols` columns (default 8, or 16 for more than 16
    images), one Heatmap per image, all on one colour scale (zmin..zmax, default the images'
    range) with one colour bar. `labels[i]` names image i (hover: "<label>, row r col c:
    <what> v")."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"expected images (n, h, w), got shape {images.shape}")
    n, h, w = images.shape
    labels = [f"#{i}" for i in range(n)] if labels is None else [str(s) for s in labels]
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} images")
    cols = max(1, min(int(cols or (8 if n <= 16 else 16)), n))
    rows = -(-n // cols)
    finite = images[np.isfinite(images)]
    lo = float(finite.min()) if zmin is None and finite.size else (zmin or 0.0)
    hi = float(finite.max()) if zmax is None and finite.size else (zmax or 1.0)
    if zmid is not None:  # symmetric around zmid: equal steps mean equal colour changes
        lim = max(abs(lo - zmid), abs(hi - zmid)) or 1.0
        lo, hi = zmid - lim, zmid + lim
    if hi <= lo:
        hi = lo + 1.0
    gap_x, gap_y = 0.06 / cols, 0.10 / rows
    top = 1.0
    data, layout = [], {}
    for i in range(n):
        r, c = divmod(i, cols)
        k = "" if i == 0 else str(i + 1)
        data.append(dict(
            type="heatmap", z=images[i], coloraxis="coloraxis", xaxis=f"x{k}", yaxis=f"y{k}",
            name=labels[i], hovertemplate=f"{labels[i]}, row %{{y}} col %{{x}}: {what} "
                                          "%{z:.3f}<extra></extra>"))
        layout[f"xaxis{k}"] = dict(domain=[c / cols + gap_x / 2, (c + 1) / cols - gap_x / 2],
                                   anchor=f"y{k}", visible=False, constrain="domain")
        layout[f"yaxis{k}"] = dict(domain=[top - (r + 1) / rows + gap_y / 2,
                                           top - r / rows - gap_y / 2],
                                   anchor=f"x{k}", visible=False, autorange="reversed",
                                   scaleanchor=f"x{k}", constrain="domain")
    layout["coloraxis"] = dict(colorscale=_colors(colorscale), cmin=lo, cmax=hi,
                               colorbar=dict(title=dict(text=colorbar_title, side="right"),
                                             thickness=12, len=1.0, outlinewidth=0))
    if height is None:  # about square images in a ~900 px wide column, never too flat
        row_px = int(min(ROW_PX[1], max(ROW_PX[0], 900 / cols)))
        height = 50 * (title is not None) + 20 + max(rows * row_px, 110)
    # mnist.plots.style._layout's look, set here: its update_layout walks every axis again
    layout.update(template=_template(), margin=dict(l=10, r=10, t=40, b=10),
                  paper_bgcolor="rgba(0,0,0,0)", height=height, showlegend=False)
    if title is not None:
        layout["title"] = dict(text=title)
    return go.Figure(data=data, layout=layout, _validate=False)  # see the banner


@functools.lru_cache(maxsize=None)
def _colors(name: str) -> tuple:
    """A named colour scale as [position, colour] pairs (plotly.js reads names its own way:
    its "RdBu" runs blue to red, plotly.py's red to blue)."""
    return tuple(tuple(step) for step in pc.get_colorscale(name))


@functools.lru_cache(maxsize=1)
def _template() -> dict:
    """The theme as plain values (an unvalidated figure keeps a template's name unresolved,
    and the browser's plotly.js knows no "plotly_dark")."""
    return pio.templates[TEMPLATE].to_plotly_json()


def feature_maps_figure(maps, title: str | None = None, cols: int | None = None,
                        height: int | None = None) -> go.Figure:
    """One stage's feature maps (C, H, W) (`mnist.analysis.feature_maps(...)[i]["maps"][row]`):
    channel c as the c-th image, all channels on one scale (from 0 when nothing is negative,
    as after ReLU; symmetric around 0 otherwise)."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"expected feature maps (C, H, W), got shape {maps.shape}")
    signed = bool(np.nanmin(maps) < 0)
    return image_grid(maps, [f"channel {c}" for c in range(len(maps))], cols=cols,
                      title=title, zmin=None if signed else 0.0, zmid=0.0 if signed else None,
                      colorscale="RdBu_r" if signed else ACTIVATION_SCALE,
                      colorbar_title="activation", what="activation", height=height)


def filters_figure(W, title: str | None = "First conv layer: one filter per channel",
                   cols: int | None = None, height: int | None = None) -> go.Figure:
    """The first conv layer's filters W (out, in, k, k) as k x k images on a diverging scale
    centred on 0 (red: ink there raises the channel, blue: lowers it). One image per filter
    for a one-channel input; with several input channels, one per (filter, input channel)."""
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 4:
        raise ValueError(f"expected filters (out, in, k, k), got shape {W.shape}")
    out, inp, k, _ = W.shape
    if inp == 1:
        images, labels = W[:, 0], [f"filter {o}" for o in range(out)]
    else:
        images = W.reshape(out * inp, k, k)
        labels = [f"filter {o}, input {i}" for o in range(out) for i in range(inp)]
        cols = cols or inp
    return image_grid(images, labels, cols=cols, title=title, zmid=0.0, colorscale="RdBu_r",
                      colorbar_title="weight", what="weight", height=height)
