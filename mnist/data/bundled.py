"""The bundled MNIST (data/mnist/): the four IDX files, checked against SHA256SUMS, cached.

`load_mnist()` is what the app, the CLI and the tests call; the parsing is the readers' own.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from mnist.data.dataset import Dataset
from mnist.data.readers import MAX_BYTES, _gunzip, _idx_images, _idx_labels
from mnist.errors import DatasetError

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "data" / "mnist"
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _sha256sums(root: Path) -> dict[str, str]:
    path = root / "SHA256SUMS"
    if not path.is_file():
        raise DatasetError(f"{path}: missing; cannot verify the MNIST files")
    sums = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def _verified_bytes(root: Path, stem: str, sums: dict[str, str]) -> bytes:
    """The uncompressed bytes of `stem` (stored raw or as .gz), checked against SHA256SUMS."""
    gz, raw = root / (stem + ".gz"), root / stem
    if gz.is_file():
        data = _gunzip(gz.read_bytes(), gz.name, MAX_BYTES)
    elif raw.is_file():
        data = raw.read_bytes()
    else:
        raise DatasetError(f"{stem}: not found in {root}")
    if stem not in sums:
        raise DatasetError(f"{stem}: no checksum in {root / 'SHA256SUMS'}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != sums[stem]:
        raise DatasetError(
            f"{stem}: SHA-256 mismatch (got {digest[:16]}..., expected {sums[stem][:16]}...): "
            "the file is corrupt or not the original MNIST"
        )
    return data


def read_mnist(root: str | os.PathLike | None = None) -> tuple[Dataset, Dataset]:
    """The bundled MNIST read afresh and not kept (load_mnist keeps it): for a process that
    only copies it elsewhere once (mnist.engine.datacache) and should not hold 55 MB after."""
    path = Path(root or DEFAULT_ROOT)
    sums = _sha256sums(path)
    parts = []
    for part, (img_stem, lab_stem) in MNIST_FILES.items():
        img = _idx_images(_verified_bytes(path, img_stem, sums), img_stem)
        lab = _idx_labels(_verified_bytes(path, lab_stem, sums), lab_stem)
        if len(img) != len(lab):
            raise DatasetError(f"{img_stem}: {len(img)} images but {len(lab)} labels")
        parts.append(Dataset(img, lab, f"MNIST {part}"))
    return parts[0], parts[1]


@lru_cache(maxsize=4)
def _load_mnist_cached(root: str) -> tuple[Dataset, Dataset]:
    return read_mnist(root)


def load_mnist(root: str | os.PathLike | None = None) -> tuple[Dataset, Dataset]:
    """The bundled MNIST as `(train, test)`: 60,000 and 10,000 read-only uint8 digits.

    Every file is checked against `SHA256SUMS` (of the uncompressed bytes) before use. The
    result is cached per folder: the arrays are read-only, so sharing them is safe.
    """
    return _load_mnist_cached(str(Path(root or DEFAULT_ROOT).resolve()))
