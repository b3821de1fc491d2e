"""Draw: a digit on a canvas, the prediction live, what the network sees, and teaching it
your own handwriting."""

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

import mnist.analysis as an
from mnist.drawing import naive_resize, pipeline_steps
from mnist.errors import DatasetError
from mnist.plots import analysis as ap
from ui import bundled, canvas, limits, my_digits, session

CANVAS_SIDE = 280
TEST_HOOK = "draw_test_drawing"  # tests put (rgba, json_data) here instead of drawing

ss = st.session_state
ss.setdefault("draw_canvas_n", 0)


def canvas_key() -> str:
    return f"draw_canvas_{ss['draw_canvas_n']}"


def clear_canvas():
    """A new key is a new, empty canvas (the old component's drawing is gone with it)."""
    ss["draw_canvas_n"] += 1
    ss.pop("drawing_image", None)
    ss.pop(TEST_HOOK, None)


def show_gray(img, caption=None, scale=8):
    """A float [0, 1] or uint8 image, upscaled with crisp pixels."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = an.to_uint8(img)
    st.image(an.upscale(img, scale), caption=caption)


entry = session.require_model()
model = entry.model

st.title("Draw a digit")
st.caption(f"Model: **{entry.name}** (`{entry.architecture}`). Draw with the mouse or a finger; "
           "the prediction follows every stroke.")

left, right = st.columns([1, 1.25], gap="large")
with left:
    pen = st.slider("Pen width", 4, 40, 18, key="draw_pen",
                    help="The drawing is re-rendered with an MNIST-like pen before it is "
                         "read, so the width barely matters: try it.")
    result = st_canvas(
        stroke_width=pen, stroke_color="#FFFFFF", background_color="#000000",
        update_streamlit=True, height=CANVAS_SIDE, width=CANVAS_SIDE,
        drawing_mode="freedraw", return_image_data=True, key=canvas_key())
    st.button("Clear", icon=":material/delete:", on_click=clear_canvas, key="draw_clear",
              help="Empty the canvas")
    canvas.only_drawing_tools()
    st.caption(canvas.TOOLS_NOTE)

    if ss.get(TEST_HOOK) is not None:
        rgba, strokes = ss[TEST_HOOK]
    else:
        rgba, strokes = result.image_data, result.json_data
    has_strokes = bool(strokes and strokes.get("objects")) if isinstance(strokes, dict) \
        else bool(strokes)
    try:
        reading = an.read_drawing(model, rgba, strokes if has_strokes else None) \
            if (rgba is not None or has_strokes) else None
    except ValueError as e:  # PreprocessError: an image we cannot read
        st.error(f"Could not read the drawing: {e}")
        reading = None

with right:
    if reading is None:
        ss.pop("drawing_image", None)
        st.info("Draw a digit on the black canvas: the prediction appears here.",
                icon=":material/draw:")
    else:
        ss["drawing_image"] = reading["image"]
        g1, g2 = st.columns([1, 1.4])
        with g1:
            st.metric("Prediction", str(reading["pred"]),
                      f"{reading['confidence']:.0%} sure", delta_color="off",
                      delta_arrow="off")
            if reading["unsure"] is not None:
                a, b = reading["unsure"]
                st.warning(f"Not sure: {a} or {b}?", icon=":material/help:")
        with g2:
            show_gray(reading["image"], "What the network sees (28x28)", scale=6)
        st.plotly_chart(ap.probs_bar(reading["probs"], title="All ten probabilities"),
                        key="draw_probs")
        bundled.drawing_table(entry, reading)  # the bundled MLP, CNN and ensemble beside it

if reading is not None:
    # lazy expanders: their work (a second preprocessing, the naive resize) is only done
    # while they are open, so a stroke's rerun stays quick
    pipe = st.expander("How the drawing becomes 28x28, and what a naive resize would do",
                       key="draw_exp_pipeline", on_change="rerun")
    sal_box = st.expander("Saliency: which pixels pushed the prediction",
                          key="draw_exp_saliency", on_change="rerun")
    if pipe.open:
        with pipe:
            steps = pipeline_steps(rgba, strokes if has_strokes else None) \
                if rgba is not None else []
            if steps:
                cols = st.columns(len(steps))
                for col, (title, img) in zip(cols, steps):
                    with col:
                        k = max(1, 140 // max(img.shape))
                        show_gray(img, title, scale=k)
            if rgba is not None:
                naive = naive_resize(rgba)
                p_naive = an.predict_proba(model, naive.reshape(1, -1))[0]
                c1, c2 = st.columns([1, 2])
                with c1:
                    show_gray(naive, "Naive: the whole canvas squashed to 28x28", scale=5)
                with c2:
                    st.plotly_chart(ap.probs_bar(p_naive, title=f"The naive image reads as "
                                                 f"{int(p_naive.argmax())}"), key="draw_naive")
                st.caption("MNIST digits were cropped to their ink, scaled to 20 px and centred by "
                           "their centre of mass in 28x28. Without that the network sees a digit "
                           "unlike any it was trained on.")

    if sal_box.open:
        with sal_box:
            c1, c2 = st.columns([1, 1.4])
            with c2:
                times_input = st.toggle("Only the ink drawn (gradient × input)", key="draw_gxi",
                                        help="The gradient says what ink *anywhere* would do; "
                                             "times the input it says what the ink you drew "
                                             "did.")
                if times_input:
                    st.markdown(
                        "Gradient × input: each pixel's ink times its gradient, so only the "
                        "ink you drew shows. **Red**: that ink raised the "
                        f"'{reading['pred']}' logit; **blue**: it lowered it.")
                else:
                    st.markdown(
                        "The gradient of the winning logit with respect to each input pixel, "
                        "by backpropagation through the network. **Red**: more ink there "
                        f"would make the network *more* sure it is a {reading['pred']}; "
                        "**blue**: ink there argues against it. Dim grey is your digit.")
            with c1:
                sal = reading["saliency"] * reading["image"] if times_input else reading["saliency"]
                st.image(an.saliency_overlay(reading["image"], sal, scale=8),
                         caption=f"Gradient of the '{reading['pred']}' logit"
                                 + (" × input" if times_input else ""))

# ------------------------------------------------------------------------- my handwriting
st.divider()
st.subheader("Teach it your handwriting")

t1, t2 = st.columns([1, 1.4], gap="large")
with t1:
    if reading is None:
        st.caption("Draw a digit; if the guess is wrong, tell it the right answer here.")
    else:
        label = st.selectbox("The right answer is", list(range(10)), index=reading["pred"],
                             key="draw_label")
        if st.button("Add to my digits", icon=":material/add:", key="draw_add",
                     disabled=my_digits.full(),
                     help=f"Keeps this 28x28 drawing with the right label (at most "
                          f"{limits.MAX_MY_DIGITS} digits)."):
            n = my_digits.add(reading["image"], label)
            st.toast(f"Added a {label} to your digits ({n} so far)")
    up = st.file_uploader("Load my digits (.npz with x, y)", type=["npz"], key="draw_upload")
    if up is not None and ss.get("draw_upload_seen") != up.file_id:
        try:
            k = my_digits.load(up.getvalue(), up.name)
            ss["draw_upload_seen"] = up.file_id
            st.toast(f"Loaded {k} digits from {up.name}")
        except DatasetError as e:
            st.error(str(e))

with t2:
    n = my_digits.count()
    if n == 0:
        st.caption("Your digits: none yet.")
    else:
        xs, ys = my_digits.arrays()
        counts = np.bincount(ys, minlength=10)
        st.markdown(f"**Your digits: {n}** (" + ", ".join(f"{d}: {c}" for d, c in
                                                          enumerate(counts) if c) + ")")
        show = min(n, 30)
        st.image(an.upscale(an.mosaic(xs[-show:], cols=10, pad=2, fill=60), 2),
                 caption=f"the last {show}")
        my_digits.show_score(entry)  # only digits it did not train on count
        b1, b2, b3 = st.columns(3)
        with b1:
            # made on click, not on every stroke's rerun
            st.download_button("Download (.npz)", lambda: an.my_digits_npz(xs, ys),
                               "my_digits.npz",
                               mime="application/octet-stream", key="draw_download",
                               icon=":material/download:")
        with b2:
            tune = st.button("Fine-tune on them", icon=":material/school:", key="draw_tune",
                             disabled=entry.kind == "ensemble" or my_digits.TUNE.running(),
                             help="400 Adam steps on your digits mixed with 10,000 "
                                  "MNIST digits (so it does not forget MNIST). Makes a new "
                                  "model; the current one is kept. (An ensemble is not "
                                  "trained: fine-tune its members.)")
        with b3:
            if st.button("Forget them", icon=":material/delete_sweep:", key="draw_forget"):
                my_digits.forget()
                st.rerun()
        if tune:
            with st.spinner("Fine-tuning in a worker, then checking it on digits it did not "
                            "train on (a few more fine-tunes) ..."):
                my_digits.start_fine_tune(entry)
            st.rerun()
my_digits.TUNE.follow()
if ss.get(my_digits.DONE):
    kind, text = ss.pop(my_digits.DONE)
    (st.success if kind == "success" else st.error)(text, icon=":material/school:")
