"""Saving, loading and copying a trained network or ensemble: one .npz, never a pickle.

The file is a NumPy .npz (a zip of .npy arrays): the weights as "0.W", "0.b", "1.W", ... plus
"meta.json", the JSON metadata stored as a uint8 array of its UTF-8 bytes, so nothing needs
`allow_pickle`. An ensemble keeps its members' arrays under "m0/", "m1/", ... and lists the
members (name, architecture, config, metrics) in its metadata.

Format versions: 1 (an MLP's `sizes`) is still read; 2, written now, describes a network by
its layer spec (`architecture` = spec, input_shape, n_classes, activation, ...), so it holds
conv nets too, and has `kind` "network" or "ensemble".

Loading trusts nothing: it refuses pickles, checks the zip directory (declared sizes, against
zip bombs), then the metadata, and from the architecture alone the arrays the file must hold
(names, sizes within the lab's limits) before reading a byte of them or building anything;
then every array (shape, dtype, finite values). Every failure is a ModelFileError saying
what is wrong.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile

import numpy as np

from mnist.errors import ConfigError, ModelFileError  # noqa: F401  (re-exported)
from mnist.nn.ensemble import Ensemble
from mnist.nn.model import from_architecture
from mnist.nn.spec import MAX_PARAMS, check_limits, param_shapes

FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)
META_KEY = "meta.json"
MAX_FILE_BYTES = 512 * 1024 * 1024  # a model file larger than this is refused
MAX_META_BYTES = 16 * 1024 * 1024
NPY_HEADER_SLACK = 4096  # the .npy header in front of each array's data
MAX_MEMBERS = 32  # networks in an ensemble file
MAX_INPUT = 4096  # a side of the input (or the inputs of a flat one)


def _jsonable(obj):
    """Make metrics/config/history JSON-safe (numpy scalars -> Python, NaN -> None)."""
    if hasattr(obj, "to_dict"):
        return _jsonable(obj.to_dict())
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


def save_model(model, path, config=None, history=None, metrics=None) -> None:
    """Write `model` (a network or an Ensemble; + optional TrainConfig, history records,
    metrics dict) to `path` (a file name or a writable binary file object). An ensemble's
    members are saved with their names and their meta's "config" and "metrics"."""
    meta = dict(format_version=FORMAT_VERSION, kind="network", config=config,
                history=list(history) if history is not None else [],
                metrics=dict(metrics) if metrics else {})
    if getattr(model, "kind", None) == "ensemble":
        meta["kind"] = "ensemble"
        meta["members"] = [dict(name=n, architecture=m.architecture(),
                                config=m.meta.get("config"), metrics=m.meta.get("metrics") or {})
                           for n, m in zip(model.names, model.members)]
    else:
        meta["architecture"] = model.architecture()
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


class _Archive:
    """The zip directory of a model file, checked, and its entries read one at a time with a
    limit on what each may declare."""

    def __init__(self, data: bytes, name: str):
        self.name = name
        if not data:
            raise ModelFileError(f"{name}: the file is empty")
        if data[:1] == b"\x80" or data[:2] in (b"(d", b"(l", b"}q", b"]q"):
            raise ModelFileError(f"{name}: this is a Python pickle; pickles can run code and "
                                 "are never loaded (models are .npz files written by save_model)")
        if data[:6] == b"\x93NUMPY":
            raise ModelFileError(f"{name}: a single .npy array, not a model .npz file")
        if data[:2] != b"PK":
            raise ModelFileError(f"{name}: not a model file (not a .npz / zip archive)")
        try:
            self.zf = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
            raise ModelFileError(f"{name}: corrupt or truncated zip archive ({e})") from None
        self.entries = {}
        total = 0
        for info in infos:
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            self.entries[key] = info
            total += info.file_size
        if total > MAX_FILE_BYTES * 4:
            raise ModelFileError(f"{name}: declares {total} uncompressed bytes, more than a "
                                 "model can hold (refusing a possible zip bomb)")

    def read(self, key: str, limit: int) -> np.ndarray:
        name, info = self.name, self.entries[key]
        if info.file_size > limit:
            raise ModelFileError(f"{name}: entry {key!r} declares {info.file_size} bytes, "
                                 f"more than the {limit} expected (refusing a possible zip bomb)")
        try:
            with self.zf.open(info) as f:
                raw = f.read(limit + 1)
            return np.load(io.BytesIO(raw), allow_pickle=False)
        except ValueError as e:
            if "pickle" in str(e).lower():
                raise ModelFileError(f"{name}: entry {key!r} holds Python objects (pickle); "
                                     "refused") from None
            raise ModelFileError(f"{name}: entry {key!r} is not a valid array ({e})") from None
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as e:
            raise ModelFileError(f"{name}: entry {key!r} is corrupt or truncated ({e})") from None

    def meta(self) -> dict:
        if META_KEY not in self.entries:
            raise ModelFileError(f"{self.name}: no {META_KEY} entry; not a model saved by "
                                 "save_model")
        raw = self.read(META_KEY, MAX_META_BYTES + NPY_HEADER_SLACK)
        if raw.dtype == np.uint8 and raw.ndim == 1:
            text = raw.tobytes()
        elif raw.dtype.kind == "U" and raw.ndim == 0:
            text = str(raw[()]).encode("utf-8")
        else:
            raise ModelFileError(f"{self.name}: {META_KEY} has dtype {raw.dtype}, expected "
                                 "uint8 bytes")
        try:
            meta = json.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ModelFileError(f"{self.name}: metadata is not valid JSON ({e})") from None
        if not isinstance(meta, dict):
            raise ModelFileError(f"{self.name}: metadata must be a JSON object")
        version = meta.get("format_version")
        if version not in READ_VERSIONS:
            raise ModelFileError(f"{self.name}: unknown format version {version!r} (this "
                                 "version of MNIST Lab reads versions "
                                 f"{', '.join(map(str, READ_VERSIONS))})")
        return meta


def _is_int(v, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _expected_shapes(arch, name: str) -> dict[str, tuple]:
    """The arrays (name -> shape) a network of this architecture has, computed from the
    metadata alone: nothing is allocated for a file that declares an absurd network."""
    if not isinstance(arch, dict):
        raise ModelFileError(f"{name}: metadata has no architecture")
    if "spec" in arch:  # format 2
        spec, shape, n_classes = arch["spec"], arch.get("input_shape"), arch.get("n_classes")
        if not (isinstance(spec, str) and isinstance(shape, list) and len(shape) in (1, 3)
                and all(_is_int(s, 1, MAX_INPUT) for s in shape)
                and _is_int(n_classes, 1, MAX_INPUT)):
            raise ModelFileError(f"{name}: bad architecture in metadata (spec {spec!r}, "
                                 f"input_shape {shape!r}, n_classes {n_classes!r})")
    else:  # format 1: an MLP's sizes
        sizes = arch.get("sizes")
        if not (isinstance(sizes, list) and len(sizes) >= 2
                and all(isinstance(s, int) and not isinstance(s, bool) and s >= 1
                        for s in sizes)):
            raise ModelFileError(f"{name}: bad architecture in metadata (sizes {sizes!r})")
        if len(sizes) > 12 or max(sizes) > MAX_INPUT:
            raise ModelFileError(f"{name}: architecture {sizes} is larger than MNIST Lab "
                                 "supports")
        spec, shape, n_classes = "-".join(map(str, sizes[1:-1])), [sizes[0]], sizes[-1]
    try:
        check_limits(spec, shape, n_classes)
        return param_shapes(spec, shape, n_classes)
    except ConfigError as e:
        raise ModelFileError(f"{name}: architecture larger than MNIST Lab supports or "
                             f"impossible ({e})") from None


def _plan(meta: dict, name: str) -> list[tuple[str, dict]]:
    """(array prefix, architecture) of each network in the file."""
    kind = meta.get("kind", "network")
    if meta["format_version"] == 1 or kind == "network":
        return [("", meta.get("architecture"))]
    if kind != "ensemble":
        raise ModelFileError(f"{name}: unknown kind {kind!r} (a network or an ensemble)")
    members = meta.get("members")
    if not (isinstance(members, list) and 1 <= len(members) <= MAX_MEMBERS
            and all(isinstance(m, dict) for m in members)):
        raise ModelFileError(f"{name}: an ensemble lists 1 to {MAX_MEMBERS} members, each an "
                             "object; this one's members are malformed")
    return [(f"m{i}/", m.get("architecture")) for i, m in enumerate(members)]


def load_model(src):
    """Read a model saved by save_model from a path, bytes or a binary file object.

    Returns a network (an MLP for Dense layers alone) with `model.meta` = {format_version,
    architecture, config, history, metrics}, or an Ensemble whose `meta` adds `members` (name,
    architecture, config, metrics of each) and whose members carry theirs. Raises
    ModelFileError on anything unexpected.
    """
    data, name = _read_bytes(src)
    archive = _Archive(data, name)
    meta = archive.meta()
    plan = _plan(meta, name)

    # ---- the arrays the architecture implies, checked before any is read
    expected = {}
    for prefix, arch in plan:
        expected.update({prefix + k: s for k, s in _expected_shapes(arch, name).items()})
    n_params = sum(math.prod(s) for s in expected.values())
    if n_params > MAX_PARAMS:
        raise ModelFileError(f"{name}: {n_params:,} parameters, more than the {MAX_PARAMS:,} "
                             "MNIST Lab loads")
    missing = [k for k in expected if k not in archive.entries]
    if missing:
        raise ModelFileError(f"{name}: missing array(s) {', '.join(missing)}")
    extra = [k for k in archive.entries if k not in expected and k != META_KEY]
    if extra:
        raise ModelFileError(f"{name}: unexpected entries {', '.join(extra)}")
    state = {}
    for key, shape in expected.items():
        a = archive.read(key, math.prod(shape) * 8 + NPY_HEADER_SLACK)
        if a.shape != shape:
            raise ModelFileError(f"{name}: array {key} has shape {a.shape}, expected {shape}")
        if a.dtype not in (np.float32, np.float64):
            raise ModelFileError(f"{name}: array {key} has dtype {a.dtype}, expected float32 "
                                 "or float64")
        if not np.all(np.isfinite(a)):
            raise ModelFileError(f"{name}: array {key} contains NaN or infinite values")
        state[key] = a

    # ---- the networks
    models = []
    for i, (prefix, arch) in enumerate(plan):
        try:
            model = from_architecture(arch)
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFileError(f"{name}: bad architecture in metadata ({e})") from None
        model.load_state_dict({k[len(prefix):]: v for k, v in state.items()
                               if k.startswith(prefix) and "/" not in k[len(prefix):]})
        info = meta["members"][i] if prefix else meta
        model.meta = dict(format_version=meta["format_version"], architecture=arch,
                          config=info.get("config"), history=info.get("history") or [],
                          metrics=info.get("metrics") or {})
        if prefix:
            model.meta["name"] = str(info.get("name") or f"model {i + 1}")
        models.append(model)
    if meta.get("kind") != "ensemble":
        return models[0]
    ens = Ensemble(models)
    ens.meta = dict(format_version=meta["format_version"], kind="ensemble",
                    config=meta.get("config"), history=meta.get("history") or [],
                    metrics=meta.get("metrics") or {},
                    members=[dict(name=m.meta["name"], architecture=m.meta["architecture"],
                                  config=m.meta["config"], metrics=m.meta["metrics"])
                             for m in models])
    return ens


def clone_model(model):
    """An independent copy of `model` (a network or an Ensemble: same architecture, copied
    weights, no shared arrays): what saving and loading it would give, without the file."""
    if getattr(model, "kind", None) == "ensemble":
        copy = Ensemble([clone_model(m) for m in model.members], model.names)
        copy.meta = dict(model.meta)
        return copy
    copy = from_architecture(model.architecture())
    copy.load_state_dict(model.state_dict())
    copy.meta = dict(model.meta)
    return copy
