"""Inside the network: what the first layer's units (or a conv net's filters) look for, and one
digit's journey through every layer to the output (a conv net's feature maps on the way; an
ensemble's members one at a time)."""

import numpy as np
import streamlit as st

import mnist.analysis as an
from mnist.plots import analysis as ap
from ui import data, inside_views, session

ss = st.session_state
ss.setdefault("in_index", 0)


def random_digit():
    n = len(data.active_data()[1])
    rng = np.random.default_rng(ss.get("in_draws", 0))
    ss["in_draws"] = ss.get("in_draws", 0) + 1
    ss["in_index"] = int(rng.integers(n))


entry = session.require_model()
model = entry.model
train, test = data.active_data()

st.title("Inside the network")
model = inside_views.pick_network(entry)  # an ensemble: the member chosen
st.caption(inside_views.describe(entry, model))

# ------------------------------------------------------------------------- first layer
st.subheader("What the first layer looks for")
if model.kind == "cnn":
    inside_views.first_filters(model)
else:
    tiles = an.weight_tiles(model)  # (h1, 28, 28)
    h1 = len(tiles)
    c1, c2 = st.columns([3, 1])
    with c2:
        show = st.slider("Units shown", 1, h1, min(h1, 64), key="in_units")
        ncols = st.slider("Tiles per row", 4, 24, min(16, max(4, show)), key="in_cols")
        own = st.toggle("Each tile its own scale", key="in_own_scale",
                        help="Stretch every unit's weights to the full colour range, so weak "
                             "units show their pattern too (the colour bar is then relative).")
        st.caption("Each tile is one hidden unit's 784 incoming weights laid out as the 28x28 "
                   "image they multiply. **Red**: ink there excites the unit; **blue**: ink "
                   "there inhibits it. The unit's input is the sum of pixel × weight, plus its "
                   "bias.")
    with c1:
        shown = an.normalise_tiles(tiles[:show]) if own else tiles[:show]
        mos = an.mosaic(shown, cols=ncols, pad=1, fill=np.nan)
        st.plotly_chart(ap.weight_mosaic(mos), key="in_weights")

# ------------------------------------------------------------------------- one input
st.subheader("One digit through the network")
sources = ["a test digit"]
if ss.get("drawing_image") is not None:
    sources.append("my drawing (Draw page)")
src = st.radio("Input", sources, horizontal=True, key="in_source",
               help="Draw on the Draw page to follow your own digit here.")
if src == "a test digit":
    ss["in_index"] = min(max(int(ss["in_index"]), 0), len(test) - 1)  # the test set may change
    s1, s2 = st.columns([2, 1])
    with s1:
        st.number_input("Test digit #", 0, len(test) - 1, step=1, key="in_index")
    with s2:
        st.button("Random digit", on_click=random_digit, icon=":material/casino:",
                  key="in_random")
    i = int(ss["in_index"])
    image = test.x(i).reshape(test.images.shape[1:])  # (28, 28), the data layer's scaling
    true = int(test.labels[i]) if test.has_labels else None
else:
    image = np.asarray(ss["drawing_image"], dtype=np.float32)
    true = None

trace = an.forward_trace(model, image.reshape(1, -1))
probs = trace[-1]["a"][0]
pred = int(np.argmax(probs))
left, right = st.columns([1, 2.2], gap="large")
with left:
    st.image(an.upscale(an.to_uint8(image), 6),
             caption="the input: 784 pixels" + (f" (true class {true})" if true is not None
                                                else ""))
    st.metric("Output", str(pred), f"{probs[pred]:.0%}", delta_color="off", delta_arrow="off")
    grad, _ = an.saliency(model, image.reshape(1, -1))
    st.image(an.saliency_overlay(image, grad[0], scale=6),
             caption=f"saliency of the '{pred}' logit (red: ink here argues for it)")
with right:
    st.plotly_chart(ap.activation_strips(trace), key="in_strips")
    st.caption("Each strip is a layer: a cell per unit, bright = strongly active. A unit's "
               "activation is f(W·(layer below) + b); the output layer's ten numbers (logits) "
               "go through softmax to become probabilities. Hover for the numbers.")
    if len(trace) >= 2:
        contrib, target = an.output_contributions(model, trace)
        st.plotly_chart(ap.contribution_bars(
            contrib, title=f"Last hidden units' pull on the '{target}' logit "
                           f"(activation × weight; 20 strongest)"), key="in_contrib")
inside_views.members_choice(entry, image)  # an ensemble: what each member reads
inside_views.feature_maps(model, image)  # a conv net: every conv layer's channels
