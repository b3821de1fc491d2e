"""What every user of the server shares, loaded once and read-only (`st.cache_resource`).

The MNIST arrays, the bundled model, its scores on MNIST and MNIST's statistics. Nothing a
user does is ever written into these objects (their arrays are read-only), so one copy serves
every session; a session's own data and models live in `ui.data` and `ui.session`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import streamlit as st

import mnist
from mnist.analysis import explore
from mnist.data.dataset import Dataset
from mnist.errors import ModelFileError
from mnist.training.metrics import score

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_PATH = ROOT / "models" / "default.npz"
MNIST_SIZES = (60_000, 10_000)  # (train, test): shown before the arrays are loaded


@st.cache_resource(show_spinner="Loading MNIST ...")
def mnist_data() -> tuple[Dataset, Dataset]:
    """The bundled MNIST `(train, test)`, read-only, loaded once per server."""
    return mnist.load_mnist()


@st.cache_resource(show_spinner=False)
def mnist_stats(part: str) -> dict:
    """Counts, class means and pixel histogram of MNIST's "train" or "test" part."""
    train, test = mnist_data()
    return explore.dataset_stats(train if part == "train" else test)


_warming = False


def warm_up() -> None:
    """Load MNIST in a background thread (once per server) so the next page finds it ready;
    `mnist.load_mnist` caches its result, which `mnist_data()` then picks up at once."""
    global _warming
    if not _warming:
        _warming = True
        threading.Thread(target=mnist.load_mnist, name="warm-mnist", daemon=True).start()


# ---------------------------------------------------------------------------- bundled model
@st.cache_resource(show_spinner=False)
def _load_default(path: str, mtime: float):
    """(model, problem): keyed by the file's mtime, so a model that appears later is seen."""
    try:
        return mnist.load_model(path), None
    except ModelFileError as e:
        return None, str(e)


def default_mtime() -> float | None:
    """The bundled model file's mtime (None when it is missing): the key of its caches."""
    try:
        return os.path.getmtime(DEFAULT_MODEL_PATH)
    except OSError:
        return None


def default_model():
    """The bundled model (`models/default.npz`), shared read-only; None if it is missing."""
    mtime = default_mtime()
    if mtime is None:
        return None
    return _load_default(str(DEFAULT_MODEL_PATH), mtime)[0]


def default_model_problem() -> str | None:
    """Why there is no bundled model (None when there is one)."""
    mtime = default_mtime()
    if mtime is None:
        return ("No bundled model yet (models/default.npz is missing). Train one on the "
                "Train page, or upload a model file there.")
    problem = _load_default(str(DEFAULT_MODEL_PATH), mtime)[1]
    return f"The bundled model could not be loaded: {problem}" if problem else None


@st.cache_resource(show_spinner="Scoring the bundled model ...")
def _default_score(mtime: float) -> dict:
    return score(default_model(), mnist_data()[1])


def default_score() -> dict:
    """The bundled model's `metrics.score` on MNIST's test set, computed once per server."""
    return _default_score(default_mtime())
