"""save_model / load_model: identical predictions after a round trip; every kind of bad file
raises ModelFileError with a clear message."""

import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from mnist import MLP, ModelFileError, TrainConfig, load_model, save_model
from mnist.training.persist import META_KEY


@pytest.fixture(scope="module")
def net():
    return MLP((784, 20, 10), seed=4)


def saved_bytes(net, **kw) -> bytes:
    buf = io.BytesIO()
    save_model(net, buf, **kw)
    return buf.getvalue()


def rebuild(entries: dict) -> bytes:
    """An .npz from {name: array or raw bytes}."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, value in entries.items():
            if isinstance(value, np.ndarray):
                b = io.BytesIO()
                np.save(b, value, allow_pickle=False)
                value = b.getvalue()
            zf.writestr(name + ".npy", value)
    return buf.getvalue()


def entries_of(data: bytes) -> dict:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def meta_array(meta: dict) -> np.ndarray:
    return np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


def test_round_trip_predicts_identically(tmp_path, net):
    cfg = TrainConfig(hidden=(20,))
    history = [{"epoch": 1.0, "val_acc": 0.5, "train_loss": float("nan")}]
    path = tmp_path / "m.npz"
    save_model(net, path, config=cfg, history=history, metrics={"test_acc": np.float32(0.25)})
    x = np.random.default_rng(0).random((50, 784), dtype=np.float32)
    for src in (path, str(path), path.read_bytes(), open(path, "rb")):
        m = load_model(src)
        assert np.array_equal(m.predict_proba(x), net.predict_proba(x))
    assert m.meta["format_version"] == 1
    assert TrainConfig.from_dict(m.meta["config"]) == cfg
    assert m.meta["history"][0]["train_loss"] is None  # NaN stored as null (strict JSON)
    assert m.meta["metrics"] == {"test_acc": 0.25} and m.sizes == (784, 20, 10)
    assert not (tmp_path / "m.npz.tmp").exists()


def test_float64_model_round_trip(net):
    m64 = MLP((784, 8, 10), dtype="float64", activation="tanh", loss="mse", seed=2)
    back = load_model(saved_bytes(m64))
    assert back.dtype == np.float64 and back.activation == "tanh" and back.loss == "mse"
    assert np.array_equal(back.state_dict()["0.W"], m64.state_dict()["0.W"])


def test_file_has_no_object_arrays(net):
    for v in entries_of(saved_bytes(net)).values():
        assert v.dtype != object


def object_npy() -> bytes:
    b = io.BytesIO()
    np.save(b, np.array([0.0] * 9 + [None], dtype=object), allow_pickle=True)
    return b.getvalue()


def corrupt_cases(net):
    good = saved_bytes(net)
    e = entries_of(good)
    meta = json.loads(e[META_KEY].tobytes())
    cases = {
        "pickle": (pickle.dumps({"0.W": np.zeros(3)}), "pickle"),
        "empty": (b"", "empty"),
        "not a zip": (b"hello, I am a text file" * 10, "not a model file"),
        "truncated": (good[: len(good) // 2], "corrupt or truncated"),
        "npy": (b"\x93NUMPY" + b"\x00" * 50, "single .npy"),
        "no meta": (rebuild({k: v for k, v in e.items() if k != META_KEY}), "no meta.json"),
        "version": (rebuild({**e, META_KEY: meta_array({**meta, "format_version": 99})}),
                    "unknown format version 99"),
        "bad json": (rebuild({**e, META_KEY: np.frombuffer(b"{oops", np.uint8)}),
                     "not valid JSON"),
        "missing array": (rebuild({k: v for k, v in e.items() if k != "1.b"}),
                          "missing array.*1.b"),
        "shape": (rebuild({**e, "0.W": np.zeros((784, 21), np.float32)}),
                  r"0.W has shape \(784, 21\)"),
        "nan": (rebuild({**e, "1.b": np.full(10, np.nan, np.float32)}), "NaN or infinite"),
        "int dtype": (rebuild({**e, "1.b": np.zeros(10, np.int32)}), "dtype int32"),
        "object array": (rebuild({**e, "1.b": object_npy()}), "pickle"),
        "extra": (rebuild({**e, "evil": np.zeros(3)}), "unexpected entries evil"),
        "arch": (rebuild({**e, META_KEY: meta_array({**meta, "architecture": {"sizes": "x"}})}),
                 "bad architecture"),
    }
    return cases


@pytest.mark.parametrize("case", ["pickle", "empty", "not a zip", "truncated", "npy",
                                  "no meta", "version", "bad json", "missing array", "shape",
                                  "nan", "int dtype", "object array", "extra", "arch"])
def test_bad_files_raise_model_file_error(net, case):
    data, match = corrupt_cases(net)[case]
    with pytest.raises(ModelFileError, match=match):
        load_model(data)


def test_zip_bomb_is_refused_from_the_directory(net):
    e = entries_of(saved_bytes(net))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in e.items():
            if k == "1.b":
                continue
            b = io.BytesIO()
            np.save(b, v)
            zf.writestr(k + ".npy", b.getvalue())
        zf.writestr("1.b.npy", b"\x00" * (50 * 1024 * 1024))  # 50 MB of zeros, ~50 kB zipped
    data = buf.getvalue()
    assert len(data) < 1024 * 1024
    with pytest.raises(ModelFileError, match="zip bomb"):
        load_model(data)


def test_missing_file_and_wrong_type(tmp_path):
    with pytest.raises(ModelFileError, match="cannot read"):
        load_model(tmp_path / "nope.npz")
    with pytest.raises(ModelFileError, match="cannot read a model from a int"):
        load_model(42)
