"""MNIST Lab's NumPy package: data, network, training, search, persistence, preprocessing.

Everything that computes an array lives here; the Streamlit pages only call it. The package
never imports streamlit and never prints (the CLI in `mnist.cli` is the one exception).
"""

from mnist.data import (
    Dataset,
    DatasetError,
    batches,
    load_mnist,
    read_dataset,
    read_idx_pair,
)

__all__ = [
    "Dataset",
    "DatasetError",
    "batches",
    "load_mnist",
    "read_dataset",
    "read_idx_pair",
]
