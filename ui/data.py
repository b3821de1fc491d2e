"""This session's data: the bundled MNIST, or a dataset the user uploaded, and the split.

An upload replaces MNIST for this session only (`st.session_state["data_override"]`); the
shared arrays in `ui.cache` are never touched. Everything scored on the test set is keyed by
`data_token()`, which changes with every upload, so scores on an old test set are never shown
for a new one.
"""

from __future__ import annotations

import gzip
import io
import uuid
import zlib

import numpy as np
import streamlit as st

import mnist
from mnist.analysis import explore
from mnist.data.dataset import Dataset
from mnist.data.readers import read_npz
from mnist.errors import DatasetError
from mnist.plots import digits
from ui import cache

USE_OPTIONS = {
    "train": "train on it (test on MNIST's test set)",
    "test": "test on it (train on MNIST's training set)",
    "both": "both: its test part, or 20% of it held out as a test set",
}


def active_data() -> tuple[Dataset, Dataset]:
    """`(train, test)` for this session: an uploaded dataset, else the bundled MNIST."""
    override = st.session_state.get("data_override")
    if override:
        return override["train"], override["test"]
    return cache.mnist_data()


def is_uploaded() -> bool:
    """Whether this session uses an uploaded dataset (else the bundled MNIST)."""
    return bool(st.session_state.get("data_override"))


def data_token() -> str:
    """Changes whenever this session's data changes (evaluations are keyed by it)."""
    override = st.session_state.get("data_override")
    return override["token"] if override else "mnist"


def test_set_label() -> str:
    """Which test set this session scores on, in words (an upload used only for training
    keeps MNIST's test set)."""
    override = st.session_state.get("data_override")
    return "your test set" if override and override["use"] != "train" else "MNIST test set"


def data_sizes() -> tuple[int, int]:
    """(train, test) sizes of this session's data, without loading MNIST for it (the home
    page and the sidebar show these; a cold start should not wait for the arrays)."""
    override = st.session_state.get("data_override")
    if override:
        return len(override["train"]), len(override["test"])
    return cache.MNIST_SIZES


def data_description() -> str:
    override = st.session_state.get("data_override")
    origin = f"uploaded: {override['name']}" if override else "MNIST"
    n_train, n_test = data_sizes()
    return f"{origin} ({n_train:,} train / {n_test:,} test digits)"


def dataset_stats(part: str) -> dict:
    """Counts, class means and pixel histogram of this session's train or test set."""
    if data_token() == "mnist":
        return cache.mnist_stats(part)
    stats = st.session_state.setdefault("_stats", {})
    key = (data_token(), part)
    if key not in stats:
        train, test = active_data()
        if len(stats) > 4:  # an old upload's statistics
            stats.clear()
        stats[key] = explore.dataset_stats(train if part == "train" else test)
    return stats[key]


# ---------------------------------------------------------------------------- figures
FIGURES = ("grid", "classes", "means", "pixels")


def dataset_figure(kind: str, part: str = "train", indices=()):
    """A Dataset-page figure of this session's data (one of FIGURES; "grid" shows `indices`
    of the `part` set), built once per data: for MNIST shared by every session (a figure is
    never changed once built), for an upload kept in this session."""
    key = (kind, part, tuple(int(i) for i in indices))
    if data_token() == "mnist":
        return _mnist_figure(*key)
    figs = st.session_state.setdefault("_figures", {})
    if (data_token(), key) not in figs:
        if len(figs) > 16:  # older grids and uploads
            figs.clear()
        figs[(data_token(), key)] = _build_figure(*key, active_data(), dataset_stats)
    return figs[(data_token(), key)]


@st.cache_resource(max_entries=64, show_spinner=False)
def _mnist_figure(kind: str, part: str, indices: tuple):
    return _build_figure(kind, part, indices, cache.mnist_data(), cache.mnist_stats)


def _build_figure(kind, part, indices, sets, stats):
    ds = sets[0] if part == "train" else sets[1]
    if kind == "grid":
        mos, labels = explore.grid(ds, np.asarray(indices, dtype=np.int64))
        return digits.digit_grid(mos, labels, indices=list(indices), height=620,
                                 title=f"{ds.name}: 100 digits, label in the corner")
    if kind == "classes":
        return digits.class_distribution({"train": stats("train")["counts"],
                                          "test": stats("test")["counts"]})
    if kind == "means":
        return digits.mean_images(stats(part)["means"],
                                  title=f"Mean image of each class ({part})")
    if kind == "pixels":
        return digits.pixel_histogram(stats(part)["histogram"],
                                      title=f"Pixel intensities ({part}, log scale)")
    raise ValueError(f"unknown figure {kind!r} (one of {FIGURES})")


# ---------------------------------------------------------------------------- uploads
FORMATS = {"idx-images": "an IDX images file", "idx-labels": "an IDX labels file",
           "npz": "an NPZ archive", "csv": "a CSV (or text) file",
           "other": "no format I know (not IDX, CSV or NPZ)"}


def file_format(raw: bytes) -> str:
    """What a file looks like from its first bytes (inside gzip too): one of FORMATS' keys.
    Only a guess to explain a refusal; the readers check everything."""
    head = raw[:64]
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
                head = f.read(64)
        except (OSError, EOFError, zlib.error):
            return "other"
    if head[:2] == b"PK":
        return "npz"
    if head[:3] == b"\x00\x00\x08" and len(head) > 3:
        return {3: "idx-images", 1: "idx-labels"}.get(head[3], "other")
    return "other" if b"\x00" in head else "csv"


def _idx_pair(files):
    """(images, labels) when the two files are an IDX images file and its labels file, in
    either order; else raises a DatasetError saying what each file looks like and what to
    do."""
    kinds = [file_format(raw) for _, raw in files]
    if sorted(kinds) == ["idx-images", "idx-labels"]:
        return (files[0], files[1]) if kinds[0] == "idx-images" else (files[1], files[0])
    seen = "; ".join(f"{name} looks like {FORMATS[k]}" for (name, _), k in zip(files, kinds))
    if all(k in ("csv", "npz") for k in kinds):
        advice = ("each CSV or NPZ file is a whole dataset on its own, and they are not "
                  "combined: keep the one you want (remove the other with its ×) and press "
                  "the button again")
    else:
        advice = ("two files are read together only as an IDX pair: an images file "
                  "(...-images-idx3-ubyte) and its labels file (...-labels-idx1-ubyte); "
                  "otherwise upload one file")
    raise DatasetError(f"2 files uploaded: {seen}. {advice[0].upper()}{advice[1:]}.")


def read_uploaded_data(files: list[tuple[str, bytes]], use: str = "train"):
    """The `(train, test, name)` an upload gives; raises DatasetError (nothing is changed).

    One file: a CSV, an NPZ or an IDX images file (unlabeled: refused, it cannot train or
    test). Two files: an IDX images file and its labels file, in either order; any other pair
    is refused with what each file looks like (they are never combined).
    """
    if use not in USE_OPTIONS:
        raise DatasetError(f"unknown use {use!r}")
    if not files:
        raise DatasetError("no file was uploaded")
    if len(files) > 2:
        raise DatasetError(f"{len(files)} files uploaded: upload one file (CSV, NPZ) or an "
                           "IDX pair (images + labels)")
    mnist_train, mnist_test = cache.mnist_data()
    parts: dict[str, Dataset] = {}
    if len(files) == 2:
        (ni, bi), (nl, bl) = _idx_pair(files)
        parts["data"] = mnist.read_idx_pair(bi, bl, name=ni)
        name = f"{ni} + {nl}"
    else:
        name, raw = files[0]
        if raw[:2] == b"PK":
            parts = read_npz(raw, name=name)
        else:
            parts["data"] = mnist.read_dataset(raw, name=name)
    for ds in parts.values():
        if not ds.has_labels:
            raise DatasetError(f"{ds.name}: no labels, so it can be neither trained nor "
                               "scored on (upload a labelled file, or the IDX labels too)")
        if len(ds) < 20:
            raise DatasetError(f"{ds.name}: only {len(ds)} digits; at least 20 are needed")
    if "train" in parts and "test" in parts:
        own_train, own_test = parts["train"], parts["test"]
    else:
        own = parts.get("data") or parts.get("train") or parts.get("test")
        if use == "both":
            own_train, own_test = own.split(0.2, seed=0)
            own_test = Dataset(own_test.images, own_test.labels, f"{own.name} (test 20%)")
        else:
            own_train = own_test = own
    if use == "train":
        return own_train, mnist_test, name
    if use == "test":
        return mnist_train, own_test, name
    return own_train, own_test, name


def use_uploaded_data(files: list[tuple[str, bytes]], use: str = "train") -> str | None:
    """Make an upload this session's data. Returns None on success, else the DatasetError
    message (and this session's data is left exactly as it was)."""
    try:
        train, test, name = read_uploaded_data(files, use)
    except DatasetError as e:
        return str(e)
    token = uuid.uuid4().hex
    st.session_state["data_override"] = dict(train=train, test=test, name=name, use=use,
                                            token=token)
    st.session_state.pop("_stats", None)
    evals = st.session_state.get("evaluations", {})  # bounded memory: forget the scores
    for key in [k for k in evals if k[1] not in ("mnist", token)]:  # on older uploads
        evals.pop(key)
    return None


def reset_data() -> None:
    """Back to the bundled MNIST for this session."""
    st.session_state.pop("data_override", None)
    st.session_state.pop("_stats", None)


# ---------------------------------------------------------------------------- the split
def val_fraction() -> float:
    """The session's validation split (0 = the standard 60k/10k, no validation)."""
    return float(st.session_state.get("split_val_fraction", 0.1))


def set_val_fraction(f: float) -> None:
    st.session_state["split_val_fraction"] = float(f)
