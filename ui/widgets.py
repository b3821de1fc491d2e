"""Small things every page uses: widget state that survives page changes, formats (durations,
where a run is in its epochs), reading a chart's selection, a page link that also works on a
page run alone, a log-scale slider's steps.
"""

from __future__ import annotations

import math

import streamlit as st
from streamlit.errors import StreamlitAPIException

PERSISTENT_PREFIXES = ("tr_", "ds_", "sr_")  # widget keys whose values survive page changes


def default(key: str, value):
    """Give a widget key its first value (widgets then use the key, never `value=`)."""
    if key not in st.session_state:
        st.session_state[key] = value
    return st.session_state[key]


def keep_widget_state() -> None:
    """Streamlit forgets a widget's value when its page is left; re-assigning the keys at the
    top of every run keeps the Train, Search and Dataset pages' choices across pages."""
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(PERSISTENT_PREFIXES):
            try:
                st.session_state[key] = st.session_state[key]
            except Exception:  # buttons and file uploaders cannot be set: leave them
                pass


def fmt_duration(seconds) -> str:
    """'4.2 s', '42 s', '3 min 05 s'; '?' when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    if seconds < 10:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def fmt_epoch(position: float, epochs: int | None = None,
              batches_per_epoch: int | None = None) -> str:
    """Where a run is, as every page and chart says it: "epoch 1 of 10, batch 1 of 422", "the
    end of epoch 3 of 10" (epochs count from 1, as training's messages do). Reads after "at"
    or "Training:". The charts use the same words (mnist.plots.training.epoch_text)."""
    from mnist.plots.training import epoch_text  # plotly: imported when first needed

    return epoch_text(position, epochs, batches_per_epoch)


# ---------------------------------------------------------------------------- log-scale slider
def log_steps(lo_exp: int, hi_exp: int) -> list[float]:
    """1, 2, 5 times every power of ten from 10**lo_exp up to 10**hi_exp (inclusive): the
    stops of a log-scale select_slider (learning rates: log_steps(-5, 1))."""
    steps = {round(m * 10.0 ** e, 10) for e in range(lo_exp, hi_exp) for m in (1, 2, 5)}
    return sorted(steps | {10.0 ** hi_exp})


def nearest_log_step(value: float, steps: list[float]) -> float:
    """The step closest to `value` on a log scale (a typed value moves the slider there)."""
    return min(steps, key=lambda s: abs(math.log10(s) - math.log10(value)))


# ---------------------------------------------------------------------------- charts, links
def selected_points(key: str) -> list[dict]:
    """The points of a Plotly chart's selection (`st.plotly_chart(key=, on_select=)`)."""
    state = st.session_state.get(key) or {}
    return (state.get("selection") or {}).get("points") or []


def clicked_index(key: str) -> int | None:
    """The first selected point's customdata as an index (our digit grids put each digit's
    index there, -1 on empty slots): a number, or a one-element list/dict of one; or None."""
    for point in selected_points(key):
        v = point.get("customdata")
        if isinstance(v, dict):
            v = next(iter(v.values()), None)
        if isinstance(v, (list, tuple)):
            v = v[0] if v else None
        if v is not None and int(v) >= 0:
            return int(v)
    return None


def ensure_router() -> None:
    """Call first on a page a link may open. Until app.py has called st.navigation once in a
    server process, Streamlit treats the pages/ folder as an old-style multipage app: a fresh
    server's first visitor arriving by a link to /train got the page alone, without app.py's
    sidebar, with the file names as the menu, and so did everyone after them until someone
    opened the home page. Leaving that mode and running again goes through app.py's router
    (the URL and its query parameters stay)."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def preload_charts() -> None:
    """Once per session (a browser tab), a blank 10-pixel chart, so the browser loads its
    chart library while the first page is read: every tab loads Plotly's 4.7 MB script at
    its first chart, which took 2-6 s on a busy 2-core machine when that chart was the Train
    page's (its form was there at once, its charts seconds later)."""
    if st.session_state.get("_charts_preloaded"):
        return
    st.session_state["_charts_preloaded"] = True
    import plotly.graph_objects as go

    hidden = dict(visible=False)
    fig = go.Figure(layout=dict(height=10, margin=dict(l=0, r=0, t=0, b=0), xaxis=hidden,
                                yaxis=hidden, paper_bgcolor="rgba(0,0,0,0)",
                                plot_bgcolor="rgba(0,0,0,0)"))
    st.plotly_chart(fig, config={"staticPlot": True, "displayModeBar": False},
                    key="_charts_preload")


def page_link(path: str, label: str, icon: str | None = None) -> None:
    """st.page_link, or the label in bold when the page is not registered (a page run on its
    own, as in a page test, has no navigation to link through)."""
    try:
        st.page_link(path, label=label, icon=icon)
    except StreamlitAPIException:
        st.markdown(f"**{label}**")
