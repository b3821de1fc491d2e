"""MNIST Lab's NumPy package: data, network, training, search, persistence, preprocessing.

Everything that computes an array lives here; the Streamlit pages only call it. The package
never imports streamlit and never prints (the CLI in `mnist.cli` is the one exception).
"""

from mnist.data.bundled import load_mnist
from mnist.data.dataset import Dataset, batches
from mnist.data.readers import read_dataset, read_idx_pair
from mnist.errors import DatasetError
from mnist.training.config import ConfigError, TrainConfig
from mnist.training.metrics import accuracy, confusion_matrix, evaluate, per_class_accuracy
from mnist.nn.ensemble import Ensemble
from mnist.nn.model import MLP, Network
from mnist.training.persist import ModelFileError, load_model, save_model
from mnist.training.loop import build_model, evaluate_loss, train

# Drawings and augmentation need scipy.ndimage and Pillow (0.4 s to import): loaded on first
# use (`from mnist import preprocess_canvas` still works), not by every `import mnist`, which
# the app does at start-up.
_LAZY = {name: "mnist.drawing.normalize" for name in (
    "naive_resize", "pipeline_steps", "preprocess_canvas")}
_LAZY["parse_strokes"] = "mnist.drawing.strokes"
_LAZY["PreprocessError"] = "mnist.errors"
_LAZY["augment_batch"] = "mnist.data.augment"


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mnist' has no attribute {name!r}")

__all__ = [
    "Dataset",
    "DatasetError",
    "batches",
    "load_mnist",
    "read_dataset",
    "read_idx_pair",
    # the network (issue 3)
    "ConfigError",
    "Ensemble",
    "MLP",
    "Network",
    "ModelFileError",
    "TrainConfig",
    "accuracy",
    "build_model",
    "confusion_matrix",
    "evaluate",
    "evaluate_loss",
    "load_model",
    "per_class_accuracy",
    "save_model",
    "train",
    # drawings and augmentation (issue 7)
    "PreprocessError",
    "augment_batch",
    "naive_resize",
    "parse_strokes",
    "pipeline_steps",
    "preprocess_canvas",
]
