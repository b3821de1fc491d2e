"""The figures' shared look: the dark theme, the colours of train/validation/test, and the
helpers every figure ends with (`_layout`) or feeds its curves through (`_finite`).

Colours mean the same thing on every page: blue = training data, orange = validation,
green = test (and "right"), red = wrong or diverged.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

from mnist.constants import N_CLASSES

CLASSES = list(range(N_CLASSES))  # the digits, as a categorical axis
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
