"""Saving, loading and copying a trained network: one .npz, never a pickle.

The file is a NumPy .npz (a zip of .npy arrays): the weights as "0.W", "0.b", "1.W", ... plus
"meta.json", the JSON metadata (format version, architecture, config, history, metrics) stored
as a uint8 array of its UTF-8 bytes, so nothing needs `allow_pickle`.

Loading trusts nothing: it refuses pickles, checks the zip directory (declared sizes, against
zip bombs) before reading a byte of data, and validates the metadata and every array (name,
shape, dtype, finite values). Every failure is a ModelFileError saying what is wrong.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile

import numpy as np

from mnist.nn.model import MLP
from mnist.errors import ModelFileError  # noqa: F401  (re-exported)

FORMAT_VERSION = 1
META_KEY = "meta.json"
MAX_FILE_BYTES = 512 * 1024 * 1024  # a model file larger than this is refused
MAX_META_BYTES = 16 * 1024 * 1024
NPY_HEADER_SLACK = 4096  # the .npy header in front of each array's data




def _jsonable(obj):
    """Make metrics/config/history JSON-safe (numpy scalars -> Python, NaN -> None)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def save_model(model: MLP, path, config=None, history=None, metrics=None) -> None:
    """Write `model` (+ optional TrainConfig, history records, metrics dict) to `path`
    (a file name or a writable binary file object)."""
    meta = dict(
        format_version=FORMAT_VERSION,
        architecture=model.architecture(),
        config=config.to_dict() if hasattr(config, "to_dict") else config,
        history=list(history) if history is not None else [],
        metrics=dict(metrics) if metrics else {},
    )
    text = json.dumps(_jsonable(meta), allow_nan=False)
    arrays = model.state_dict()
    arrays[META_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    if isinstance(path, (str, os.PathLike)):
        # write to a temporary name then rename: a crash never leaves half a model behind
        tmp = os.fspath(path) + ".tmp"
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    else:
        np.savez_compressed(path, **arrays)


def _read_bytes(src) -> tuple[bytes, str]:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src), "model file"
    if isinstance(src, (str, os.PathLike)):
        name = os.fspath(src)
        try:
            size = os.path.getsize(name)
            if size > MAX_FILE_BYTES:
                raise ModelFileError(f"{name}: {size} bytes is too large for a model file")
            with open(name, "rb") as f:
                return f.read(), name
        except ModelFileError:
            raise
        except OSError as e:
            raise ModelFileError(f"{name}: cannot read: {e.strerror or e}") from None
    if hasattr(src, "read"):
        name = getattr(src, "name", "model file")
        data = src.read(MAX_FILE_BYTES + 1)
        if isinstance(data, str):
            raise ModelFileError(f"{name}: opened in text mode; open it with 'rb'")
        if len(data) > MAX_FILE_BYTES:
            raise ModelFileError(f"{name}: too large for a model file")
        return bytes(data), str(name)
    raise ModelFileError(f"cannot read a model from a {type(src).__name__}")


def load_model(src) -> MLP:
    """Read a model saved by save_model from a path, bytes or a binary file object.

    Returns an MLP with `model.meta` = {format_version, architecture, config, history,
    metrics}. Raises ModelFileError on anything unexpected.
    """
    data, name = _read_bytes(src)
    if not data:
        raise ModelFileError(f"{name}: the file is empty")
    if data[:1] == b"\x80" or data[:2] in (b"(d", b"(l", b"}q", b"]q"):
        raise ModelFileError(f"{name}: this is a Python pickle; pickles can run code and are "
                             "never loaded (models are .npz files written by save_model)")
    if data[:6] == b"\x93NUMPY":
        raise ModelFileError(f"{name}: a single .npy array, not a model .npz file")
    if data[:2] != b"PK":
        raise ModelFileError(f"{name}: not a model file (not a .npz / zip archive)")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        raise ModelFileError(f"{name}: corrupt or truncated zip archive ({e})") from None

    members = {}
    total = 0
    for info in infos:
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        members[key] = info
        total += info.file_size
    if total > MAX_FILE_BYTES * 4:
        raise ModelFileError(f"{name}: declares {total} uncompressed bytes, more than a model "
                             "can hold (refusing a possible zip bomb)")
    if META_KEY not in members:
        raise ModelFileError(f"{name}: no {META_KEY} entry; not a model saved by save_model")

    def read_array(key: str, limit: int) -> np.ndarray:
        info = members[key]
        if info.file_size > limit:
            raise ModelFileError(f"{name}: entry {key!r} declares {info.file_size} bytes, "
                                 f"more than the {limit} expected (refusing a possible zip bomb)")
        try:
            with zf.open(info) as f:
                raw = f.read(limit + 1)
            return np.load(io.BytesIO(raw), allow_pickle=False)
        except ValueError as e:
            if "pickle" in str(e).lower():
                raise ModelFileError(f"{name}: entry {key!r} holds Python objects (pickle); "
                                     "refused") from None
            raise ModelFileError(f"{name}: entry {key!r} is not a valid array ({e})") from None
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as e:
            raise ModelFileError(f"{name}: entry {key!r} is corrupt or truncated ({e})") from None

    # ---- metadata
    raw = read_array(META_KEY, MAX_META_BYTES + NPY_HEADER_SLACK)
    if raw.dtype == np.uint8 and raw.ndim == 1:
        text = raw.tobytes()
    elif raw.dtype.kind == "U" and raw.ndim == 0:
        text = str(raw[()]).encode("utf-8")
    else:
        raise ModelFileError(f"{name}: {META_KEY} has dtype {raw.dtype}, expected uint8 bytes")
    try:
        meta = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ModelFileError(f"{name}: metadata is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{name}: metadata must be a JSON object")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{name}: unknown format version {version!r} (this version of "
                             f"MNIST Lab reads version {FORMAT_VERSION})")
    arch = meta.get("architecture")
    if not isinstance(arch, dict):
        raise ModelFileError(f"{name}: metadata has no architecture")
    try:
        model = MLP(arch["sizes"], activation=arch["activation"], init=arch.get("init", "he"),
                    dropout=arch.get("dropout", 0.0), loss=arch.get("loss", "cross_entropy"),
                    dtype=arch.get("dtype", "float32"), seed=0)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{name}: bad architecture in metadata ({e})") from None
    if len(model.sizes) > 12 or max(model.sizes) > 4096:
        raise ModelFileError(f"{name}: architecture {model.sizes} is larger than MNIST Lab "
                             "supports")

    # ---- arrays
    expected = model._expected_shapes()
    missing = [k for k in expected if k not in members]
    if missing:
        raise ModelFileError(f"{name}: missing array(s) {', '.join(missing)}")
    extra = [k for k in members if k not in expected and k != META_KEY]
    if extra:
        raise ModelFileError(f"{name}: unexpected entries {', '.join(extra)}")
    state = {}
    for key, shape in expected.items():
        limit = int(np.prod(shape)) * 8 + NPY_HEADER_SLACK
        a = read_array(key, limit)
        if a.shape != shape:
            raise ModelFileError(f"{name}: array {key} has shape {a.shape}, expected {shape}")
        if a.dtype not in (np.float32, np.float64):
            raise ModelFileError(f"{name}: array {key} has dtype {a.dtype}, expected float32 "
                                 "or float64")
        if not np.all(np.isfinite(a)):
            raise ModelFileError(f"{name}: array {key} contains NaN or infinite values")
        state[key] = a
    model.load_state_dict(state)
    model.meta = dict(
        format_version=version,
        architecture=arch,
        config=meta.get("config"),
        history=meta.get("history") or [],
        metrics=meta.get("metrics") or {},
    )
    return model


def clone_model(model: MLP) -> MLP:
    """An independent copy of `model` (same architecture, copied weights, no shared arrays):
    what saving and loading it would give, without the file."""
    arch = model.architecture()
    copy = MLP(arch["sizes"], activation=arch["activation"], init=arch["init"],
               dropout=arch["dropout"], loss=arch["loss"], dtype=arch["dtype"], seed=0)
    copy.load_state_dict(model.state_dict())
    copy.meta = dict(model.meta)
    return copy
