"""The data layer: read MNIST-like files, check them, and serve minibatches.

- `mnist.data.dataset`: `Dataset` (uint8 digits, read-only; split, subset, take) and `batches`.
- `mnist.data.readers`: IDX, CSV and NPZ readers with size limits (`read_dataset`,
  `read_idx_pair`, `read_npz`); bad input raises `DatasetError` naming the file and problem.
- `mnist.data.bundled`: `load_mnist()`, the bundled set checked against its SHA-256 sums.
- `mnist.data.augment`: random affine maps and stroke-weight changes for training batches.

The names below are re-exported for users (`from mnist.data import Dataset, load_mnist`); code
inside the package imports them from the module that defines them.
"""

from mnist.constants import N_CLASSES, PIXELS, SCALE, SIDE
from mnist.data.bundled import DEFAULT_ROOT, MNIST_FILES, load_mnist
from mnist.data.dataset import Dataset, batches
from mnist.data.readers import MAX_BYTES, Source, read_dataset, read_idx_pair, read_npz
from mnist.errors import DatasetError

__all__ = [
    "DEFAULT_ROOT",
    "MAX_BYTES",
    "MNIST_FILES",
    "N_CLASSES",
    "PIXELS",
    "SCALE",
    "SIDE",
    "Dataset",
    "DatasetError",
    "Source",
    "batches",
    "load_mnist",
    "read_dataset",
    "read_idx_pair",
    "read_npz",
]
