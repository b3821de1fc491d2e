"""Dataset: browse the digits, look at one up close, see the statistics, upload your own data."""

import streamlit as st

from mnist.analysis import explore
from mnist.analysis.inside import upscale
from mnist.plots import digits as dp
from ui import data, widgets

st.title("Dataset")
st.caption("What the network learns from: 28x28 greyscale images (0 = black, 255 = white) "
           "with the digit each one shows.")

with st.spinner("Loading the digits ..."):  # only seen on a server's first visit
    train, test = data.active_data()
widgets.keep_widget_state()

# ---------------------------------------------------------------------------- data source
with st.container(border=True):
    c1, c2 = st.columns([3, 1])
    c1.markdown(f"**Data in use:** {data.data_description()}")
    if data.is_uploaded():
        if c2.button("Back to MNIST", icon=":material/restart_alt:",
                     help="Forget the uploaded data and use the bundled MNIST again."):
            data.reset_data()
            st.rerun()
    with st.expander("Upload your own data", icon=":material/upload:"):
        st.caption("One CSV (label + 784 pixels per row, header or not; Kaggle and "
                   "'MNIST in CSV' layouts), one NPZ (Keras layout: x_train, y_train, x_test, "
                   "y_test; or x, y), or two IDX files (images + labels, raw or .gz). "
                   "A new upload replaces the data in use. The data is used in this session "
                   "only; nobody else sees it.")
        # a new key after each upload that is used: the uploader starts empty, so the next
        # file replaces the data instead of joining the old file as a pair
        files = st.file_uploader("Data file(s)", accept_multiple_files=True,
                                 key=f"_data_upload_{st.session_state.get('_data_uploads', 0)}",
                                 help="Pixels must be 0-255 and labels 0-9. Up to 50 MB: gzip a "
                                      "bigger file (a 110 MB MNIST CSV is 13 MB as .csv.gz).")
        use = st.radio("Use it to", list(data.USE_OPTIONS), format_func=data.USE_OPTIONS.get,
                       key="ds_upload_use", horizontal=True,
                       help="An NPZ with both a train and a test part is always used as both.")
        if st.button("Use this data", type="primary", disabled=not files,
                     help="Check the file(s); if anything is wrong nothing changes."):
            with st.spinner("Reading ..."):
                problem = data.use_uploaded_data([(f.name, f.getvalue()) for f in files], use)
            if problem:
                st.error(problem, icon=":material/error:")
            else:
                st.session_state["_data_uploads"] = st.session_state.get("_data_uploads", 0) + 1
                st.rerun()

# ---------------------------------------------------------------------------- split
with st.container(border=True):
    st.markdown("**Split for training**")
    standard = st.toggle(
        "Standard split: train on all training digits, no validation set",
        value=data.val_fraction() == 0, key="_split_standard",
        help="MNIST's own split is 60,000 training and 10,000 test digits. A validation set "
             "(part of the training digits held out) shows overfitting while training, "
             "without touching the test set.")
    if standard:
        data.set_val_fraction(0.0)
        st.caption(f"Training on {len(train):,} digits, testing on {len(test):,}.")
    else:
        frac = st.slider("Validation fraction", 0.05, 0.5, max(0.05, data.val_fraction() or 0.1),
                         0.05, key="_split_fraction",
                         help="Share of the training digits held out (stratified by class) "
                              "to validate on. The Train page starts with this value.")
        data.set_val_fraction(frac)
        n_val = int(round(frac * len(train)))
        st.caption(f"Training on {len(train) - n_val:,} digits, validating on {n_val:,}, "
                   f"testing on {len(test):,}.")

# ---------------------------------------------------------------------------- the grid
st.subheader("The digits")
widgets.default("ds_part", "train")
widgets.default("ds_mode", "random")
widgets.default("ds_seed", 0)
widgets.default("ds_start", 0)
widgets.default("ds_index", 0)
c1, c2, c3 = st.columns([1, 1.4, 1.2])
part = c1.radio("Set", ["train", "test"], key="ds_part", horizontal=True,
                help="The training digits or the test digits.")
ds = train if part == "train" else test
modes = list(explore.GRID_MODES) if ds.has_labels else ["random", "by index"]
if st.session_state["ds_mode"] not in modes:
    st.session_state["ds_mode"] = "random"
mode = c2.radio("Show", modes, key="ds_mode", horizontal=True,
                help="random: a random sample; by class: ten of each digit, one row per "
                     "class; by index: 100 digits in file order from a start index.")
if mode == "by index":
    st.session_state["ds_start"] = min(st.session_state["ds_start"], max(len(ds) - 1, 0))
    start = c3.number_input("First index", 0, max(len(ds) - 1, 0), key="ds_start", step=100,
                            help=f"0 to {len(ds) - 1:,}")
else:
    start = 0
    if c3.button("New sample", icon=":material/shuffle:",
                 help="Draw another random set of digits."):
        st.session_state["ds_seed"] += 1
indices = explore.pick_indices(ds, mode, 100, seed=st.session_state["ds_seed"], start=start)
grid = (data.data_token(), part, mode, start, st.session_state["ds_seed"])
if st.session_state.get("_ds_grid") != grid:
    # a new grid: the close-up starts on its first digit (not on #0, usually not in it)
    st.session_state["_ds_grid"] = grid
    st.session_state["ds_index"] = int(indices[0])


def _on_grid_select():
    i = widgets.clicked_index("_grid_select")
    if i is not None:
        st.session_state["ds_index"] = i


left, right = st.columns([1.15, 1])
with left:
    st.plotly_chart(data.dataset_figure("grid", part, indices), key="_grid_select",
                    on_select=_on_grid_select, selection_mode="points",
                    config={"displayModeBar": False})
    st.caption("Click a digit to see it up close on the right (or type its index there).")
with right:
    st.session_state["ds_index"] = min(st.session_state["ds_index"], len(ds) - 1)
    i = st.number_input("Digit index", 0, len(ds) - 1, key="ds_index", step=1,
                        help=f"Which digit of the {part} set to show (0 to {len(ds) - 1:,}).")
    label = f"label {int(ds.labels[i])}" if ds.has_labels else "no label"
    st.markdown(f"**Digit #{i}: {label}**")
    st.image(upscale(ds.images[i], 12))  # 336 px, crisp pixels
    numbers = st.toggle("Show its 784 numbers", key="ds_numbers",
                        help="The pixel values, 0-255, written in a big grid below.")
    st.caption("Each pixel is one of the 784 inputs of the network, 0-255 here; the network "
               "sees it divided by 255, in [0, 1].")
if numbers:
    st.plotly_chart(dp.digit_heatmap(ds.images[i], title=f"Digit #{i} ({label}): the 784 "
                                     "numbers the network reads", show_values=True),
                    config={"displayModeBar": False}, key="_digit_numbers")

# ---------------------------------------------------------------------------- statistics
st.subheader("Statistics")
with st.spinner("Computing statistics ..."):
    st.plotly_chart(data.dataset_figure("classes"), config={"displayModeBar": False},
                    key="_class_dist")
    st.caption("MNIST's classes are roughly balanced (1 is the most common, 5 the rarest), so "
               "accuracy is a fair summary; per-class accuracy on the Train page shows the "
               "rest.")
    st.plotly_chart(data.dataset_figure("means", part), config={"displayModeBar": False},
                    key="_means")
    st.caption("The average of all digits of a class: a blurry template. A network with no "
               "hidden layer learns weights that look a bit like these.")
    st.plotly_chart(data.dataset_figure("pixels", part), config={"displayModeBar": False},
                    key="_hist")
    st.caption("Most pixels are background (0); ink is mostly near 255, with soft edges "
               "between.")
