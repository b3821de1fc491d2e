"""The Inside page's views of conv nets and ensembles (the MLP views are the page's own).

- an ensemble has no layers of its own: the page looks inside one member (picked here) and
  shows what every member reads on the digit;
- a conv net: its first layer's filters, and for one digit every conv layer's feature maps
  after the activation and after each pooling, one small image per channel with a colour
  scale and a caption saying what the row is (CNN Explainer's picture).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import mnist.analysis as an
from mnist.plots import conv as cp
from ui import session

MEMBER_KEY = "in_member"


def pick_network(entry: session.ModelEntry):
    """The network the page looks inside: the entry's, or for an ensemble the member chosen
    in a select box."""
    if entry.kind != "ensemble":
        return entry.model
    names = entry.model.names
    if st.session_state.get(MEMBER_KEY) not in range(len(names)):
        st.session_state[MEMBER_KEY] = 0
    archs = [session.model_architecture(m) for m in entry.model.members]
    i = st.selectbox("Member to look inside", range(len(names)), key=MEMBER_KEY,
                     format_func=lambda k: f"{names[k]} ({archs[k]})",
                     help="An ensemble has no layers of its own: it averages its members' "
                          "probabilities. Pick a member to see inside it.")
    return entry.model.members[i]


def describe(entry: session.ModelEntry, model) -> str:
    """The caption under the title: what the network shown is made of."""
    head = f"Model **{entry.name}**"
    if entry.kind == "ensemble":
        i = entry.model.members.index(model)
        head += f", member **{entry.model.names[i]}**"
    if model.kind == "cnn":
        shapes = " → ".join(f"dense {r.name}" if r.name.isdigit() else
                            f"{r.name} {'x'.join(map(str, r.shape))}"
                            for r in model.layer_shapes())
        return (f"{head}: a conv net, {shapes}; {model.activation} after every conv and "
                f"Dense layer, {model.n_params:,} parameters.")
    arch = " → ".join(session.model_architecture(model).split("-"))
    return (f"{head}: {arch} units, {model.activation} between layers, "
            f"{model.n_params:,} parameters.")


def first_filters(model) -> None:
    """A conv net's first-layer section: its filters, one small image each."""
    W = an.conv_filters(model)  # (out, in, k, k)
    st.plotly_chart(cp.filters_figure(W, title=f"First conv layer: {len(W)} filters of "
                                               f"{W.shape[2]}x{W.shape[3]}"), key="in_filters")
    st.caption(f"Each small image is one filter of the first conv layer: {W.shape[2]}x"
               f"{W.shape[3]} weights slid over the whole image, one output channel each. "
               "**Red**: ink there raises that channel; **blue**: ink there lowers it. "
               "Filters usually become edge and stroke detectors: a light-then-dark pair "
               "of rows finds horizontal edges.")


def feature_maps(model, image) -> None:
    """Every conv layer's feature maps (after the activation) and every pooling's, for one
    digit: a figure per row, its caption under it. Nothing for an MLP."""
    if model.kind != "cnn":
        return
    stages = an.feature_maps(model, np.asarray(image).reshape(1, -1))
    st.subheader("What each conv layer finds in this digit")
    st.caption("Each row is a layer's output for the digit on the left: one small image per "
               "channel (a feature map), all of a row on one colour scale (bright = strong "
               "response). Hover for the numbers.")
    for i, s in enumerate(stages):
        title = f"{s['name']}: {s['token']}"
        st.plotly_chart(cp.feature_maps_figure(s["maps"][0], title=title), key=f"in_fmap_{i}")
        st.caption(s["caption"])


def members_choice(entry: session.ModelEntry, image) -> None:
    """An ensemble: what each member reads on the digit, and the ensemble's mean."""
    if entry.kind != "ensemble":
        return
    x = np.asarray(image, dtype=np.float32).reshape(1, -1)
    rows = [(n, m.predict_proba(x)[0]) for n, m in zip(entry.model.names, entry.model.members)]
    rows.append((f"{entry.name} (mean)", entry.model.predict_proba(x)[0]))
    st.markdown("**The members' choice on this digit**")
    st.dataframe(pd.DataFrame(dict(
        Model=[n for n, _ in rows], Reads=[int(np.argmax(p)) for _, p in rows],
        Sure=[float(np.max(p)) for _, p in rows],
        Probabilities=[[round(float(v), 4) for v in p] for _, p in rows])),
        hide_index=True, key="in_members", column_config={
            "Sure": st.column_config.ProgressColumn("Sure", format="percent", min_value=0.0,
                                                    max_value=1.0),
            "Probabilities": st.column_config.BarChartColumn("Probabilities of 0 … 9",
                                                             y_min=0.0, y_max=1.0)})
