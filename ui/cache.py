"""What every user of the server shares, loaded once and read-only (`st.cache_resource`).

The MNIST arrays, the bundled models (the MLP `models/default.npz` and, when it is there, the
CNN `models/cnn.npz`, and the ensemble of both), their scores on MNIST and MNIST's statistics.
Nothing a user does is ever written into these objects (their arrays are read-only), so one
copy serves every session; a session's own data and models live in `ui.data` and `ui.session`.
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
from mnist.nn.ensemble import Ensemble
from mnist.training.metrics import score

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_PATH = ROOT / "models" / "default.npz"
# $MNIST_CNN_MODEL names another file (tests and demos of a server without models/cnn.npz)
CNN_MODEL_PATH = Path(os.environ.get("MNIST_CNN_MODEL") or ROOT / "models" / "cnn.npz")
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


# ---------------------------------------------------------------------------- bundled models
@st.cache_resource(show_spinner=False)
def _load_default(path: str, mtime: float):
    """(model, problem): keyed by the file's mtime, so a model that appears later is seen."""
    try:
        model = mnist.load_model(path)
    except ModelFileError as e:
        return None, str(e)
    if (model.n_inputs, model.n_classes) != (784, 10):
        return None, (f"{path}: the network maps {model.n_inputs} inputs to "
                      f"{model.n_classes} outputs, not 784 -> 10")
    return model, None


def _mtime(path) -> float | None:
    try:
        return os.path.getmtime(path)
    except OSError:
        return None


def default_mtime() -> float | None:
    """The bundled model file's mtime (None when it is missing): the key of its caches."""
    return _mtime(DEFAULT_MODEL_PATH)


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


def cnn_model():
    """The bundled CNN (`models/cnn.npz`), shared read-only; None while it is missing (the
    app works without it)."""
    mtime = _mtime(CNN_MODEL_PATH)
    if mtime is None:
        return None
    return _load_default(str(CNN_MODEL_PATH), mtime)[0]


def cnn_model_problem() -> str | None:
    """Why there is no bundled CNN (None when there is one)."""
    mtime = _mtime(CNN_MODEL_PATH)
    if mtime is None:
        return "No bundled CNN (models/cnn.npz is not there)."
    problem = _load_default(str(CNN_MODEL_PATH), mtime)[1]
    return f"The bundled CNN could not be loaded: {problem}" if problem else None


@st.cache_resource(show_spinner="Scoring the bundled CNN ...")
def _cnn_score(path: str, mtime: float) -> dict:
    return score(_load_default(path, mtime)[0], mnist_data()[1])


def cnn_score() -> dict:
    """The bundled CNN's `metrics.score` on MNIST's test set, computed once per server."""
    return _cnn_score(str(CNN_MODEL_PATH), _mtime(CNN_MODEL_PATH))


@st.cache_resource(show_spinner=False)
def _pair(mlp_mtime: float, cnn_path: str, cnn_mtime: float) -> Ensemble:
    return Ensemble([default_model(), cnn_model()], names=["bundled MLP", "bundled CNN"])


def bundled_ensemble() -> Ensemble | None:
    """The ensemble of the bundled MLP and CNN (their mean probability), shared read-only;
    None unless both are there."""
    if default_model() is None or cnn_model() is None:
        return None
    return _pair(default_mtime(), str(CNN_MODEL_PATH), _mtime(CNN_MODEL_PATH))
