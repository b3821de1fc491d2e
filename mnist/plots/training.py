"""Figures of a network and its training (the Train page): loss and accuracy curves, the
confusion matrix, accuracy per class and the softmax outputs for a few test digits.

Every function takes plain data (train() records, arrays from `mnist.training.metrics`) and
returns a `plotly.graph_objects.Figure`; no Streamlit here.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mnist.plots.style import (BAD_COLOR, CLASSES, TEST_COLOR, TRAIN_COLOR, VAL_COLOR, _finite,
                               _layout)


def epoch_text(position: float, epochs: int | None = None,
               batches_per_epoch: int | None = None) -> str:
    """Where a run is, in the one epoch numbering every page uses: epochs count from 1, as
    train()'s messages do, so 0.25 epochs trained is "epoch 1" and 3.0 is "the end of epoch
    3". With the batches per epoch it names the batch too. Reads after "at" or "Training:".

    epoch_text(0.0024, 10, 422) -> "epoch 1 of 10, batch 1 of 422"
    epoch_text(3.0, 10)         -> "the end of epoch 3 of 10"
    """
    position = max(0.0, float(position or 0.0))
    of = f" of {epochs:,}" if epochs else ""
    if position == 0:
        return "the start"
    whole = math.floor(position + 1e-9)
    frac = position - whole
    if frac < 1e-6:
        return f"the end of epoch {whole:,}{of}"
    if batches_per_epoch:
        b = min(batches_per_epoch, max(1, round(frac * batches_per_epoch)))
        return f"epoch {whole + 1:,}{of}, batch {b:,} of {batches_per_epoch:,}"
    share = f"{frac:.0%}" if frac >= 0.01 else "under 1%"
    return f"epoch {whole + 1:,}{of} ({share} of it done)"


def history_batches_per_epoch(history: list[dict]) -> int | None:
    """Batches per epoch, read off train() records (step / epoch), or None."""
    for r in history:
        if r.get("event") is None and r.get("epoch") and r.get("step"):
            return max(1, round(r["step"] / r["epoch"]))
    return None


FINAL = ("done", "stopped", "diverged", "early_stopped")


def training_curves(history: list[dict], epochs: int | None = None,
                    height: int = 380) -> go.Figure:
    """Loss and accuracy against epochs (fractional for intra-epoch records), train and
    validation. A diverged run gets a red marker where it blew up, a change of learning rate
    (a record with event "lr") a dotted line. `epochs` (the plan) sets the x range while the
    run goes; a run that has ended early is drawn over the epochs it trained."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"),
                        horizontal_spacing=0.08)
    changes = [r for r in history if r.get("event") == "lr"]
    history = [r for r in history if r.get("event") is None]
    x = [r["epoch"] for r in history]
    per_epoch = history_batches_per_epoch(history)
    where = [epoch_text(e, None, per_epoch) for e in x]
    # With intra-epoch records, the train curve is drawn from those windows only: an epoch's
    # closing record averages the whole epoch and would show as a step back up.
    windows = any(float(e) % 1 for e in x)
    for key, name, color, col in (("train_loss", "train", TRAIN_COLOR, 1),
                                  ("val_loss", "validation", VAL_COLOR, 1),
                                  ("train_acc", "train", TRAIN_COLOR, 2),
                                  ("val_acc", "validation", VAL_COLOR, 2)):
        pts = [(e, r.get(key), w) for e, r, w in zip(x, history, where)
               if r.get(key) is not None
               and not (windows and key.startswith("train") and float(e) % 1 == 0)]
        if not pts:
            continue
        xs, ys, ws = zip(*pts)
        value = "%{y:.2%}" if key.endswith("acc") else "%{y:.4f}"
        fig.add_trace(go.Scatter(x=list(xs), y=_finite(ys), name=name, legendgroup=name,
                                 showlegend=col == 1, mode="lines+markers",
                                 marker=dict(size=4 if key.startswith("train") else 7),
                                 line=dict(color=color), customdata=list(ws),
                                 hovertemplate=f"{name} {value}<br>%{{customdata}}"
                                               "<extra></extra>"), row=1, col=col)
    for r in changes:
        for col in (1, 2):
            fig.add_vline(x=r["epoch"], line=dict(color=VAL_COLOR, dash="dot", width=1),
                          row=1, col=col)
        fig.add_annotation(x=r["epoch"], y=0, yref="y domain", text=f" lr {r['lr']:g}",
                           showarrow=False, xanchor="left", yanchor="bottom",
                           font=dict(color=VAL_COLOR, size=11), row=1, col=1)
    xmax = max(x + [r["epoch"] for r in changes], default=0.0)
    ended = bool(history) and history[-1].get("status") in FINAL
    if not ended:
        xmax = max(xmax, epochs or 0) or 1.0
    bad = [r for r in history if r.get("status") == "diverged"]
    if bad:
        e = bad[-1]["epoch"]
        fig.add_vline(x=e, line=dict(color=BAD_COLOR, dash="dash"), row=1, col=1)
        blowup = bad[-1].get("blowup_loss")
        text = " diverged" if blowup is None else (
            f" loss → {blowup:.3g}" if isinstance(blowup, float) else f" loss → {blowup}")
        # an arrow shooting out of the top of the loss panel: the curve going to infinity
        right = xmax and e > 0.6 * xmax  # the label goes where there is room
        fig.add_annotation(x=e, y=1, yref="y domain", text=text + " " if right else text,
                           showarrow=True, ax=0, ay=70, arrowhead=2, arrowsize=1.5,
                           arrowcolor=BAD_COLOR, font=dict(color=BAD_COLOR),
                           hovertext=epoch_text(e, None, per_epoch),
                           xanchor="right" if right else "left", row=1, col=1)
    fig.update_xaxes(title="epoch", range=[0, xmax * 1.04 if xmax else 1])
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
