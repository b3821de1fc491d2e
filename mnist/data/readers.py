"""Readers for what the classic tutorials have on disk, within size limits: IDX files (raw or
gzipped), the CSV layouts ("MNIST in CSV", Kaggle's digit-recognizer train.csv and test.csv)
and NPZ archives in the Keras layout. Whatever goes wrong raises `DatasetError` with a message
that names the file and the problem; a reader never returns a partial dataset.
"""

from __future__ import annotations

import gzip
import io
import os
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np

from mnist.constants import N_CLASSES, PIXELS, SIDE
from mnist.data.dataset import Dataset
from mnist.errors import DatasetError

MAX_BYTES = 200 * 1024 * 1024  # default size limit for a file, compressed or not

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]


# ---------------------------------------------------------------------------- Reading bytes


def _name_of(src: Source, name: str | None) -> str:
    if name:
        return name
    if isinstance(src, (str, os.PathLike)):
        return os.path.basename(os.fspath(src)) or os.fspath(src)
    return getattr(src, "name", None) or "uploaded data"


def _read_source(src: Source, name: str, max_bytes: int) -> bytes:
    """The raw bytes of a path, a bytes object or a binary file-like, within the size limit."""
    try:
        if isinstance(src, (bytes, bytearray, memoryview)):
            data = bytes(src)
        elif isinstance(src, (str, os.PathLike)):
            path = Path(src)
            if not path.is_file():
                raise DatasetError(f"{name}: no such file")
            size = path.stat().st_size
            if size > max_bytes:
                raise DatasetError(f"{name}: file of {size / 1e6:.0f} MB is over the "
                                   f"{max_bytes / 1e6:.0f} MB limit")
            data = path.read_bytes()
        elif hasattr(src, "read"):
            if hasattr(src, "seek"):
                src.seek(0)
            data = src.read(max_bytes + 1)
            if isinstance(data, str):
                data = data.encode()
        else:
            raise DatasetError(f"{name}: cannot read a {type(src).__name__}")
    except OSError as e:
        raise DatasetError(f"{name}: cannot read the file ({e.strerror or e})") from None
    if len(data) > max_bytes:
        raise DatasetError(f"{name}: file is over the {max_bytes / 1e6:.0f} MB limit")
    if not data:
        raise DatasetError(f"{name}: the file is empty")
    return data


def _gunzip(data: bytes, name: str, max_bytes: int) -> bytes:
    """Decompress gzip data, refusing more than `max_bytes` of output (a gzip bomb)."""
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            while chunk := f.read(1 << 20):
                out.write(chunk)
                if out.tell() > max_bytes:
                    raise DatasetError(
                        f"{name}: decompresses to over the {max_bytes / 1e6:.0f} MB limit"
                    )
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{name}: corrupt or truncated gzip data ({e})") from None
    result = out.getvalue()
    if not result:
        raise DatasetError(f"{name}: the file is empty once decompressed")
    return result


def _maybe_gunzip(data: bytes, name: str, max_bytes: int) -> bytes:
    return _gunzip(data, name, max_bytes) if data[:2] == b"\x1f\x8b" else data


# -------------------------------------------------------------------------------------- IDX


def _parse_idx(data: bytes, name: str, ndim: int) -> np.ndarray:
    """An IDX array of unsigned bytes with `ndim` dimensions (1: labels, 3: images)."""
    if len(data) < 4:
        raise DatasetError(f"{name}: too short to be an IDX file ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    expected = 0x0800 | ndim
    if magic != expected:
        what = "labels" if ndim == 1 else "images"
        raise DatasetError(
            f"{name}: wrong magic number 0x{magic:08x} for an IDX {what} file "
            f"(expected 0x{expected:08x})"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{name}: truncated IDX header")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if ndim == 3 and dims[1:] != (SIDE, SIDE):
        raise DatasetError(f"{name}: images are {dims[1]}x{dims[2]}, not 28x28")
    need = int(np.prod(dims))
    have = len(data) - header
    if have < need:
        raise DatasetError(
            f"{name}: truncated data: the header announces {dims[0]} items "
            f"({need} bytes) but only {have} bytes follow"
        )
    if have > need:
        raise DatasetError(f"{name}: {have - need} unexpected bytes after the data")
    return np.frombuffer(data, dtype=np.uint8, count=need, offset=header).reshape(dims)


def _idx_images(data: bytes, name: str) -> np.ndarray:
    return _parse_idx(data, name, 3)


def _idx_labels(data: bytes, name: str) -> np.ndarray:
    labels = _parse_idx(data, name, 1)
    if len(labels) and labels.max() > 9:
        bad = int(np.flatnonzero(labels > 9)[0])
        raise DatasetError(f"{name}: label {labels[bad]} at position {bad} is outside 0-9")
    return labels


def read_idx_pair(
    images: Source,
    labels: Source,
    name: str | None = None,
    max_bytes: int = MAX_BYTES,
) -> Dataset:
    """A labeled Dataset from an IDX images file and its IDX labels file (raw or gzipped)."""
    img_name, lab_name = _name_of(images, None), _name_of(labels, None)
    img = _idx_images(_maybe_gunzip(_read_source(images, img_name, max_bytes), img_name,
                                    max_bytes), img_name)
    lab = _idx_labels(_maybe_gunzip(_read_source(labels, lab_name, max_bytes), lab_name,
                                    max_bytes), lab_name)
    if len(img) != len(lab):
        raise DatasetError(
            f"{img_name} holds {len(img)} images but {lab_name} holds {len(lab)} labels"
        )
    return Dataset(img, lab, name or img_name)


# -------------------------------------------------------------------------------------- CSV


def _csv_find_problem(pd, data: bytes, name: str, has_header: bool, ncols: int) -> np.ndarray:
    """Parse a CSV the slow, general way and raise DatasetError at its first bad cell.

    Returns the values (float64) when they are all whole numbers after all (e.g. "3.0").
    """
    try:
        frame = pd.read_csv(io.BytesIO(data), header=0 if has_header else None, engine="c",
                            low_memory=False)
    except pd.errors.ParserError as e:
        raise DatasetError(f"{name}: wrong column count ({e})") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise DatasetError(f"{name}: not a readable CSV file ({e})") from None
    if frame.shape[1] != ncols:
        raise DatasetError(f"{name}: wrong column count: {frame.shape[1]}, expected {ncols}")
    header_rows = 2 if has_header else 1
    for col in range(ncols):
        if not pd.api.types.is_numeric_dtype(frame.dtypes.iloc[col]):
            series = frame.iloc[:, col]
            coerced = pd.to_numeric(series, errors="coerce")
            bad = np.flatnonzero(coerced.isna().to_numpy() & series.notna().to_numpy())
            r = int(bad[0]) if len(bad) else 0
            raise DatasetError(
                f"{name}: non-numeric cell {series.iloc[r]!r} at line {r + header_rows}, "
                f"column {col + 1}"
            )
    values = frame.to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        r, c = np.argwhere(np.isnan(values))[0]
        raise DatasetError(
            f"{name}: missing value at line {r + header_rows}, column {c + 1} "
            "(a short row or an empty cell)"
        )
    if not np.array_equal(values, np.round(values)):
        r, c = np.argwhere(values != np.round(values))[0]
        raise DatasetError(
            f"{name}: value {values[r, c]} at line {r + header_rows}, column {c + 1} "
            "is not a whole number"
        )
    return values


def _parse_csv(data: bytes, name: str) -> Dataset:
    import pandas as pd  # imported here: only CSV needs it

    text_head = data[:65536].decode("utf-8", errors="replace")
    lines = [ln for ln in text_head.splitlines() if ln.strip()]
    if not lines:
        raise DatasetError(f"{name}: the file is empty")
    first = [c.strip().strip('"') for c in lines[0].split(",")]
    ncols = len(first)
    if ncols not in (PIXELS, PIXELS + 1):
        raise DatasetError(
            f"{name}: wrong column count: {ncols} columns in the first row; expected 785 "
            "(label + 784 pixels) or 784 (pixels only)"
        )

    def numeric(cell: str) -> bool:
        try:
            float(cell)
            return True
        except ValueError:
            return False

    has_header = not all(numeric(c) for c in first)
    labeled = ncols == PIXELS + 1
    # Fast path: whole numbers parse straight into int32 (4 bytes a cell, not 8). Anything
    # else (a word, an empty cell, a fraction, a short row) falls back to a general parse
    # whose only job is to find the bad cell and name it.
    try:
        frame = pd.read_csv(io.BytesIO(data), header=0 if has_header else None, engine="c",
                            dtype=np.int32)
        values = frame.to_numpy()
        if frame.shape[1] != ncols:
            raise ValueError("column count")
    except (ValueError, OverflowError, pd.errors.ParserError, UnicodeDecodeError):
        values = _csv_find_problem(pd, data, name, has_header, ncols)
    if len(values) == 0:
        raise DatasetError(f"{name}: no data rows")
    header_rows = 2 if has_header else 1  # file line of the first data row
    labels = None
    if labeled:
        lab = values[:, 0]
        if lab.min() < 0 or lab.max() > 9:
            r = int(np.flatnonzero((lab < 0) | (lab > 9))[0])
            raise DatasetError(
                f"{name}: label {lab[r]:g} at line {r + header_rows} is outside 0-9"
            )
        labels = lab.astype(np.uint8)
        values = values[:, 1:]
    if values.min() < 0 or values.max() > 255:
        r, c = np.argwhere((values < 0) | (values > 255))[0]
        raise DatasetError(
            f"{name}: pixel value {values[r, c]:g} at line {r + header_rows} is outside 0-255"
        )
    images = values.astype(np.uint8).reshape(-1, SIDE, SIDE)
    return Dataset(images, labels, name)


# -------------------------------------------------------------------------------------- NPZ


def _as_images(arr: np.ndarray, name: str, key: str) -> np.ndarray:
    if arr.ndim == 2 and arr.shape[1] == PIXELS:
        arr = arr.reshape(-1, SIDE, SIDE)
    if arr.ndim != 3 or arr.shape[1:] != (SIDE, SIDE):
        raise DatasetError(f"{name}: {key} has shape {arr.shape}; images must be 28x28")
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind not in "uif":
        raise DatasetError(f"{name}: {key} has dtype {arr.dtype}, expected numbers")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise DatasetError(f"{name}: {key} holds NaN or infinite values")
        if arr.size and arr.max() <= 1.0 and arr.min() >= 0.0:
            return np.rint(arr * 255).astype(np.uint8)  # floats in [0, 1]
        if not np.array_equal(arr, np.round(arr)):
            raise DatasetError(f"{name}: {key} holds fractional pixel values outside [0, 1]")
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise DatasetError(f"{name}: {key} has pixel values outside 0-255")
    return arr.astype(np.uint8)


def _as_labels(arr: np.ndarray, name: str, key: str) -> np.ndarray:
    if arr.ndim == 2 and arr.shape[1] == N_CLASSES and arr.dtype.kind in "uif":
        arr = arr.argmax(axis=1)  # one-hot labels
    if arr.ndim != 1 or arr.dtype.kind not in "uif":
        raise DatasetError(f"{name}: {key} must be a vector of labels, got {arr.dtype} "
                           f"{arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > 9 or not np.array_equal(arr, np.round(arr))):
        raise DatasetError(f"{name}: {key} has labels outside 0-9")
    return arr.astype(np.uint8)


_NPZ_PAIRS = {
    "train": [("x_train", "y_train"), ("train_images", "train_labels")],
    "test": [("x_test", "y_test"), ("test_images", "test_labels")],
    "any": [("x", "y"), ("images", "labels"), ("X", "y")],
}


def read_npz(src: Source, name: str | None = None,
             max_bytes: int = MAX_BYTES) -> dict[str, Dataset]:
    """The datasets in an NPZ archive, by part: {"train": ..., "test": ...} or {"data": ...}.

    Keras layout: x_train, y_train, x_test, y_test. Also x/y and images/labels. Read with
    `allow_pickle=False`; archives that would decompress past `max_bytes` are refused unread.
    """
    name = _name_of(src, name)
    data = _read_source(src, name, max_bytes)
    return _parse_npz(data, name, max_bytes)


def _parse_npz(data: bytes, name: str, max_bytes: int) -> dict[str, Dataset]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            total = sum(info.file_size for info in zf.infolist())
            if total > max_bytes:
                raise DatasetError(
                    f"{name}: the archive would decompress to {total / 1e6:.0f} MB, over the "
                    f"{max_bytes / 1e6:.0f} MB limit"
                )
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except DatasetError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower() or "object" in str(e).lower():
            raise DatasetError(f"{name}: the NPZ holds Python objects, which are not loaded "
                               "(only plain numeric arrays are accepted)") from None
        raise DatasetError(f"{name}: not a valid NPZ archive ({e})") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, zlib.error) as e:
        raise DatasetError(f"{name}: corrupt or truncated NPZ archive ({e})") from None
    except NotImplementedError as e:  # zipfile: a compression method or version it lacks
        raise DatasetError(f"{name}: an NPZ archive this reader cannot open ({e})") from None
    found: dict[str, Dataset] = {}
    for part, pairs in _NPZ_PAIRS.items():
        for xk, yk in pairs:
            if xk in arrays:
                images = _as_images(arrays[xk], name, xk)
                labels = None
                if yk in arrays:
                    labels = _as_labels(arrays[yk], name, yk)
                    if len(labels) != len(images):
                        raise DatasetError(
                            f"{name}: {xk} holds {len(images)} images but {yk} holds "
                            f"{len(labels)} labels"
                        )
                label = "data" if part == "any" else part
                found[label] = Dataset(images, labels, f"{name} ({label})")
                break
    if not found:
        raise DatasetError(
            f"{name}: no image arrays found (keys: {', '.join(arrays) or 'none'}); expected "
            "x_train/y_train/x_test/y_test (the Keras layout) or x/y"
        )
    return found


# --------------------------------------------------------------------------------- Any file


def read_dataset(
    src: Source, name: str | None = None, *, part: str = "train", max_bytes: int = MAX_BYTES
) -> Dataset:
    """Read an IDX images file, a CSV or an NPZ, detecting the format from its bytes.

    - IDX images (raw or .gz): an unlabeled Dataset (pair it with its labels file through
      `read_idx_pair` to get labels).
    - CSV: label + 784 pixel columns, or 784 pixel columns (unlabeled), header or not.
    - NPZ: `part` picks "train" or "test" from a Keras-layout archive.
    Anything else, or anything wrong, raises `DatasetError` naming the file and the problem.
    """
    name = _name_of(src, name)
    data = _maybe_gunzip(_read_source(src, name, max_bytes), name, max_bytes)
    if data[:2] == b"PK":
        sets = _parse_npz(data, name, max_bytes)
        if part in sets:
            return sets[part]
        if len(sets) == 1:
            return next(iter(sets.values()))
        raise DatasetError(f"{name}: no {part!r} part (has: {', '.join(sets)})")
    if data[:2] == b"\x00\x00":
        kind = data[3] if len(data) > 3 else None
        if data[2:3] == b"\x08" and kind == 1:
            raise DatasetError(
                f"{name}: an IDX labels file on its own; read it together with its images "
                "file (read_idx_pair / upload both)"
            )
        if data[2:3] == b"\x08" and kind == 3:
            return Dataset(_idx_images(data, name), None, name)
        raise DatasetError(f"{name}: wrong magic number 0x{data[:4].hex()} for an IDX file")
    if data[:6] == b"\x93NUMPY":
        raise DatasetError(f"{name}: a single .npy array; save images and labels together "
                           "as an .npz (x_train, y_train, ...)")
    sample = data[:4096]
    if b"\x00" in sample:
        raise DatasetError(f"{name}: not a recognised format (not IDX, CSV or NPZ)")
    return _parse_csv(data, name)
