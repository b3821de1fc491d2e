"""The digits a worker trains on, cheap to load in every worker process.

The bundled MNIST is stored gzipped and checked against its SHA-256 sums: about a second of
work and 55 MB of memory per process. A worker instead maps an uncompressed `.npy` copy
(`<runs>/cache/`, written once, atomically, by whichever process needs it first) read-only, so
every worker of a machine shares the same pages of the page cache and starts in milliseconds.

A study names its data by a key: "mnist" (the bundled set) or "npz:<sha>" for a dataset the
app saved with `save_dataset` (an upload), found in the same cache folder.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from mnist.data.bundled import DEFAULT_ROOT, read_mnist
from mnist.data.dataset import Dataset
from mnist.errors import EngineError

BUNDLED = "mnist"


def _cache_dir(folder: Path) -> Path:
    path = Path(folder) / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _save_atomic(path: Path, array: np.ndarray) -> None:
    """Write `path` whole or not at all, and only once: when two workers make the cache at the
    same moment, the first file stays and the other's copy is dropped, so every worker maps the
    same file (replacing it would leave the first one mapping a deleted copy: no page shared)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(array))
    try:
        os.link(tmp, path)  # fails if another process got there first
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: replace (still whole or nothing)
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _bundled_key() -> str:
    """Names the cache after the bundled files' checksums: a new bundle, a new cache."""
    sums = (DEFAULT_ROOT / "SHA256SUMS").read_bytes()
    return hashlib.sha256(sums).hexdigest()[:16]


def _mapped(folder: Path, stem: str, make) -> tuple[Dataset, ...]:
    """(images, labels) .npy pairs under `stem`, made by `make()` if missing, mapped read-only."""
    cache = _cache_dir(folder)
    parts = []
    for i, name in enumerate(("train", "test")):
        img, lab = cache / f"{stem}-{name}-images.npy", cache / f"{stem}-{name}-labels.npy"
        if not (img.is_file() and lab.is_file()):
            made = make()
            for ds, n in zip(made, ("train", "test")):
                _save_atomic(cache / f"{stem}-{n}-images.npy", ds.images)
                _save_atomic(cache / f"{stem}-{n}-labels.npy", ds.labels)
        parts.append(Dataset(np.load(img, mmap_mode="r"), np.load(lab, mmap_mode="r"),
                             f"MNIST {name}" if stem.startswith(BUNDLED) else f"upload {name}"))
    return tuple(parts)


@lru_cache(maxsize=4)
def _load(folder: str, key: str) -> tuple[Dataset, Dataset]:
    if key == BUNDLED:
        return _mapped(Path(folder), f"{BUNDLED}-{_bundled_key()}", read_mnist)
    if key.startswith("npz:"):
        stem = "upload-" + key[4:]
        if not (_cache_dir(Path(folder)) / f"{stem}-train-images.npy").is_file():
            raise EngineError(f"dataset {key} is not on this machine (it was uploaded to "
                              "another server); run the study where it was made")
        return _mapped(Path(folder), stem, lambda: None)
    raise EngineError(f"unknown dataset key {key!r}")


def load(folder: str | os.PathLike, key: str = BUNDLED) -> tuple[Dataset, Dataset]:
    """(train, test) for a study's data key, mapped from `folder`/cache (made on first use)."""
    return _load(str(folder), key)


def save_dataset(train: Dataset, test: Dataset | None = None,
                 folder: str | os.PathLike | None = None) -> str:
    """Put a dataset (an upload) in this machine's cache (default: the runs folder's) for the
    workers; returns its data key, for `create_study(..., data=key)`."""
    if folder is None:
        from mnist.engine.storage import runs_dir

        folder = runs_dir()
    h = hashlib.sha256()
    for ds in (train, test):
        if ds is not None:
            h.update(np.ascontiguousarray(ds.images).tobytes())
            h.update(np.ascontiguousarray(ds.labels).tobytes())
    key = "npz:" + h.hexdigest()[:20]
    cache = _cache_dir(Path(folder))
    test = test if test is not None else train.take(np.arange(0))
    for ds, n in ((train, "train"), (test, "test")):
        stem = cache / f"upload-{key[4:]}-{n}"
        if not Path(f"{stem}-images.npy").is_file():
            _save_atomic(Path(f"{stem}-labels.npy"), ds.labels)
            _save_atomic(Path(f"{stem}-images.npy"), ds.images)
    return key
