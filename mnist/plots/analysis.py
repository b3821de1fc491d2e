"""Plotly figures for the Mistakes, Draw and Inside pages, from plain arrays (no Streamlit).

The theme and colours are `mnist.plots.style`'s. Clickable figures carry an invisible marker
per item whose `customdata` says what was clicked (a test index, a (true, predicted) cell), so
`st.plotly_chart(..., on_select="rerun")` tells the page what the user picked.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mnist.constants import SIDE
from mnist.plots.style import (BAD_COLOR, CLASSES, GREYS, TEST_COLOR, TRAIN_COLOR, VAL_COLOR,
                               _layout)


def probs_bar(probs, true: int | None = None, title: str | None = None,
              height: int = 260) -> go.Figure:
    """The ten output probabilities as bars; the top guess highlighted (green if it is the
    true class or no true class is known, red if it is wrong), the true class outlined."""
    p = np.asarray(probs, dtype=np.float64).ravel()
    top = int(p.argmax())
    right = true is None or top == int(true)
    colors = [(TEST_COLOR if right else BAD_COLOR) if k == top else TRAIN_COLOR
              for k in range(len(p))]
    line = [3 if true is not None and k == int(true) else 0 for k in range(len(p))]
    fig = go.Figure(go.Bar(
        x=CLASSES[:len(p)], y=p, marker=dict(color=colors, line=dict(width=line,
                                                                       color=VAL_COLOR)),
        text=[f"{v:.0%}" if v >= 0.005 else "" for v in p], textposition="outside",
        hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_xaxes(dtick=1, title="digit")
    fig.update_yaxes(range=[0, 1.12], tickformat=".0%", title="probability")
    return _layout(fig, height=height, title=title, showlegend=False)


def mistake_grid(mosaic: np.ndarray, true, pred, confidence, indices, cols: int = 10,
                 pad: int = 2, height: int | None = None,
                 title: str | None = None) -> go.Figure:
    """One page of mistakes as ONE heatmap image, each digit captioned "true→pred  conf".
    An invisible marker per digit carries its test index (customdata) for click selection."""
    mosaic = np.asarray(mosaic)
    n = len(indices)
    step = SIDE + pad
    rows = max(1, -(-n // cols))
    if height is None:
        height = 50 + rows * 66 + (30 if title else 0)
    fig = go.Figure(go.Heatmap(z=mosaic, colorscale=GREYS, zmin=0, zmax=255, showscale=False,
                               hoverinfo="skip"))
    k = np.arange(n)
    r, c = k // cols, k % cols
    cx = pad + c * step + SIDE / 2 - 0.5
    cy = pad + r * step + SIDE / 2 - 0.5
    hover = [f"test #{int(i)}: true {int(t)}, predicted {int(p)} ({cf:.0%})"
             for i, t, p, cf in zip(indices, true, pred, confidence)]
    fig.add_trace(go.Scatter(
        x=cx, y=cy, mode="markers", customdata=[int(i) for i in indices], hovertext=hover,
        hoverinfo="text", name="digits", showlegend=False,
        marker=dict(size=max(10, int(height / (rows + 1) * 0.55)), opacity=0.01,
                    color="#FFFFFF", symbol="square")))
    fig.add_trace(go.Scatter(
        x=pad + c * step - 0.5, y=pad + r * step + 2, mode="text", hoverinfo="skip",
        text=[f"{int(t)}→{int(p)}" for t, p in zip(true, pred)], textposition="middle right",
        textfont=dict(color=VAL_COLOR, size=11), showlegend=False, name="labels"))
    fig.add_trace(go.Scatter(
        x=pad + c * step + SIDE - 0.5, y=pad + r * step + SIDE - 3, mode="text",
        hoverinfo="skip", text=[f"{cf:.0%}" for cf in confidence],
        textposition="middle left", textfont=dict(color=BAD_COLOR, size=10),
        showlegend=False, name="confidence"))
    fig.update_xaxes(visible=False, range=[-0.5, mosaic.shape[1] - 0.5], constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return _layout(fig, height=height, title=title, clickmode="event+select",
                   dragmode=False)


def confusion_cells(cm, selected: tuple[int, int] | None = None,
                    title: str = "Confusion matrix (click a cell)", height: int = 600,
                    font_size: int = 14) -> go.Figure:
    """Confusion matrix whose colour shows the ERRORS (the diagonal, which dwarfs them, is
    grey and only written); every cell is clickable (customdata = [true, predicted]); the
    selected cell is outlined. Sized for counts of four digits at `font_size` (cells of
    45 px or more at the default height)."""
    cm = np.asarray(cm)
    n = len(cm)
    errors = cm.astype(np.float64).copy()
    errors[errors == 0] = np.nan  # no mistakes: no colour (the background shows)
    np.fill_diagonal(errors, np.nan)
    fig = go.Figure(go.Heatmap(
        z=np.log1p(errors), x=CLASSES[:n], y=CLASSES[:n],
        text=np.where(np.isfinite(errors), cm.astype(str), ""), texttemplate="%{text}",
        textfont=dict(size=font_size), colorscale="Reds", showscale=False, hoverinfo="skip",
        xgap=1, ygap=1))
    diag = np.full((n, n), np.nan)
    diag[np.diag_indices(n)] = 1
    fig.add_trace(go.Heatmap(z=diag, x=CLASSES[:n], y=CLASSES[:n], showscale=False,
                             colorscale=[[0, "#3a3f4b"], [1, "#3a3f4b"]], hoverinfo="skip",
                             text=np.where(np.eye(n, dtype=bool), cm, ""),
                             texttemplate="%{text}", textfont=dict(size=font_size),
                             xgap=1, ygap=1))
    t, p = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    t, p = t.ravel(), p.ravel()
    fig.add_trace(go.Scatter(
        x=p, y=t, mode="markers", customdata=np.stack([t, p], axis=1).tolist(),
        hovertext=[f"true {a}, predicted {b}: {cm[a, b]}" for a, b in zip(t, p)],
        hoverinfo="text", showlegend=False, name="cells",
        marker=dict(size=int(height / (n + 3)), symbol="square", opacity=0.01,
                    color="#FFFFFF")))
    if selected is not None:
        a, b = selected
        fig.add_shape(type="rect", x0=b - 0.5, x1=b + 0.5, y0=a - 0.5, y1=a + 0.5,
                      line=dict(color=VAL_COLOR, width=3))
    fig.update_xaxes(title="predicted", dtick=1, side="bottom", range=[-0.5, n - 0.5],
                     showgrid=False, zeroline=False, fixedrange=True, constrain="domain")
    fig.update_yaxes(title="true", dtick=1, range=[n - 0.5, -0.5], scaleanchor="x",
                     showgrid=False, zeroline=False, fixedrange=True, constrain="domain")
    fig.update_xaxes(title_font_size=font_size, tickfont_size=font_size)
    fig.update_yaxes(title_font_size=font_size, tickfont_size=font_size)
    return _layout(fig, height=height, title=title, clickmode="event+select", dragmode=False)


def weight_mosaic(mosaic: np.ndarray, title: str = "First-layer weights, one tile per "
                  "hidden unit", height: int | None = None) -> go.Figure:
    """Weight tiles (a float mosaic, NaN between tiles) with a diverging scale centred on 0:
    red = ink there excites the unit, blue = ink there inhibits it."""
    mosaic = np.asarray(mosaic, dtype=np.float64)
    finite = np.abs(mosaic[np.isfinite(mosaic)])
    # a robust limit: a few large weights would otherwise wash every tile out to white
    lim = float(np.percentile(finite, 99.5)) if finite.size else 1.0
    lim = lim if lim > 0 else 1.0
    if height is None:
        height = int(min(1400, 90 + 1.9 * mosaic.shape[0] * min(1.0, 900 / mosaic.shape[1])))
    fig = go.Figure(go.Heatmap(z=mosaic, colorscale="RdBu", reversescale=True, zmid=0,
                               zmin=-lim, zmax=lim,
                               colorbar=dict(title="weight", thickness=12),
                               hovertemplate="weight %{z:.3f}<extra></extra>"))
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return _layout(fig, height=height, title=title)


def activation_strips(trace: list[dict], row: int = 0, height: int | None = None) -> go.Figure:
    """One input's journey through the network: a heat strip per hidden layer (each cell a
    unit, brightness = its activation) and the output probabilities as bars at the bottom.
    `trace` is `mnist.analysis.forward_trace(model, x)`."""
    hidden = trace[:-1]
    out = trace[-1]
    n = len(trace)
    titles = [f"{t['name']}: {t['a'].shape[1]} units, {int(np.sum(t['a'][row] > 0))} active"
              if t["name"] != "output" else "" for t in hidden]
    titles.append("output: probabilities (softmax of the logits)")
    fig = make_subplots(rows=n, cols=1, subplot_titles=titles, vertical_spacing=0.12,
                        row_heights=[1] * (n - 1) + [2])
    for i, t in enumerate(hidden):
        a = np.asarray(t["a"][row], dtype=np.float64)
        z = np.asarray(t["z"][row], dtype=np.float64)
        fig.add_trace(go.Heatmap(
            z=a[None, :], x=np.arange(len(a)), colorscale="Viridis", showscale=False,
            customdata=z[None, :],
            hovertemplate="unit %{x}: activation %{z:.3f} (pre-activation "
                          "%{customdata:.3f})<extra></extra>"), row=i + 1, col=1)
        fig.update_yaxes(visible=False, row=i + 1, col=1)
        fig.update_xaxes(showticklabels=False, row=i + 1, col=1)
    p = np.asarray(out["a"][row], dtype=np.float64)
    top = int(p.argmax())
    fig.add_trace(go.Bar(x=CLASSES[:len(p)], y=p, showlegend=False,
                         marker_color=[TEST_COLOR if k == top else TRAIN_COLOR
                                       for k in range(len(p))],
                         customdata=np.asarray(out["z"][row], dtype=np.float64),
                         hovertemplate="%{x}: p %{y:.3f}, logit %{customdata:.2f}"
                                       "<extra></extra>"), row=n, col=1)
    fig.update_xaxes(dtick=1, row=n, col=1)
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", row=n, col=1)
    return _layout(fig, height=height or (120 * (n - 1) + 260))


def contribution_bars(contrib, title: str = "What pushed the winning logit") -> go.Figure:
    """Each last-hidden-layer unit's contribution a_j * W[j, winner] to the winning logit,
    largest in magnitude first (green pushes up, red pushes down)."""
    c = np.asarray(contrib, dtype=np.float64)
    order = np.argsort(-np.abs(c))[:20]
    fig = go.Figure(go.Bar(x=[f"u{j}" for j in order], y=c[order],
                           marker_color=[TEST_COLOR if v >= 0 else BAD_COLOR for v in c[order]],
                           hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_yaxes(title="contribution")
    return _layout(fig, height=260, title=title, showlegend=False)
