"""save_model / load_model: identical predictions after a round trip, for MLPs, conv nets and
ensembles; format 1 files (every model saved before conv nets) still load; every kind of bad
file raises ModelFileError with a clear message, whatever the network in it."""

import io
import json
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mnist import Ensemble, MLP, ModelFileError, TrainConfig, load_model, save_model
from mnist.nn.model import build_network
from mnist.training.persist import MAX_MEMBERS, META_KEY, clone_model

V1_FILE = Path(__file__).parent / "fixtures" / "mlp_v1.npz"  # written by the format 1 code


def make(kind):
    if kind == "mlp":
        return MLP((784, 20, 10), seed=4)
    if kind == "cnn":
        return build_network("conv4k3-pool-conv6k3v-pool-12", seed=4)
    return Ensemble([make("mlp"), make("cnn")])


@pytest.fixture(scope="module")
def net():
    return make("mlp")


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
    assert m.meta["format_version"] == 2
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
    keys = list(net.state_dict())
    first_W, last_b = keys[0], keys[-1]  # "0.W" and "1.b" for the MLP
    W, b = e[first_W], e[last_b]
    wrong = W.shape[:-1] + (W.shape[-1] + 1,)
    bad_arch = ({**meta, "architecture": {"sizes": "x"}} if "architecture" in meta else
                {**meta, "members": [{"architecture": {"sizes": "x"}}, *meta["members"][1:]]})
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
        "missing array": (rebuild({k: v for k, v in e.items() if k != last_b}),
                          f"missing array.*{last_b}"),
        "shape": (rebuild({**e, first_W: np.zeros(wrong, np.float32)}),
                  re.escape(f"{first_W} has shape {wrong}")),
        "nan": (rebuild({**e, last_b: np.full(b.shape, np.nan, np.float32)}), "NaN or infinite"),
        "int dtype": (rebuild({**e, last_b: np.zeros(b.shape, np.int32)}), "dtype int32"),
        "object array": (rebuild({**e, last_b: object_npy()}), "pickle"),
        "extra": (rebuild({**e, "evil": np.zeros(3)}), "unexpected entries evil"),
        "arch": (rebuild({**e, META_KEY: meta_array(bad_arch)}), "bad architecture"),
    }
    return cases


@pytest.mark.parametrize("kind", ["mlp", "cnn", "ensemble"])
@pytest.mark.parametrize("case", ["pickle", "empty", "not a zip", "truncated", "npy",
                                  "no meta", "version", "bad json", "missing array", "shape",
                                  "nan", "int dtype", "object array", "extra", "arch"])
def test_bad_files_raise_model_file_error(kind, case):
    data, match = corrupt_cases(make(kind))[case]
    with pytest.raises(ModelFileError, match=match):
        load_model(data)


@pytest.mark.parametrize("kind", ["mlp", "cnn", "ensemble"])
def test_zip_bomb_is_refused_from_the_directory(kind):
    net = make(kind)
    e = entries_of(saved_bytes(net))
    last_b = list(net.state_dict())[-1]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in e.items():
            if k == last_b:
                continue
            b = io.BytesIO()
            np.save(b, v)
            zf.writestr(k + ".npy", b.getvalue())
        zf.writestr(last_b + ".npy", b"\x00" * (50 * 1024 * 1024))  # 50 MB zeros, ~50 kB zipped
    data = buf.getvalue()
    assert len(data) < 1024 * 1024
    with pytest.raises(ModelFileError, match="zip bomb"):
        load_model(data)


def test_missing_file_and_wrong_type(tmp_path):
    with pytest.raises(ModelFileError, match="cannot read"):
        load_model(tmp_path / "nope.npz")
    with pytest.raises(ModelFileError, match="cannot read a model from a int"):
        load_model(42)


# ---------------------------------------------------------------------------- conv nets
@pytest.mark.parametrize("kw", [dict(), dict(dtype="float64", activation="tanh", loss="mse",
                                             init="xavier", dropout=0.2)])
def test_conv_net_round_trip_predicts_identically(tmp_path, kw):
    cnn = build_network("conv4k3-pool-conv6k3v-pool-12", seed=7, **kw)
    cfg = TrainConfig(layers="conv4k3-pool-conv6k3v-pool-12", seed=7, **kw)
    path = tmp_path / "cnn.npz"
    save_model(cnn, path, config=cfg, metrics={"test_acc": 0.9})
    back = load_model(path)
    x = np.random.default_rng(0).random((20, 784), dtype=np.float32)
    assert type(back) is type(cnn) and back.kind == "cnn" and back.spec == cnn.spec
    assert np.array_equal(back.predict_proba(x), cnn.predict_proba(x))
    assert back.architecture() == cnn.architecture()
    assert back.meta["format_version"] == 2 and back.meta["architecture"]["spec"] == cnn.spec
    assert TrainConfig.from_dict(back.meta["config"]) == cfg
    copy = clone_model(cnn)
    assert np.array_equal(copy.predict_proba(x), cnn.predict_proba(x))
    copy.layers[0].b[:] += 1  # independent arrays
    assert not np.array_equal(copy.predict_proba(x), cnn.predict_proba(x))


def with_meta(net, **changes) -> bytes:
    e = entries_of(saved_bytes(net))
    meta = json.loads(e[META_KEY].tobytes())
    return rebuild({**e, META_KEY: meta_array({**meta, **changes})})


@pytest.mark.parametrize("arch,match", [
    (dict(spec="conf4k3"), "'conf4k3' is not a layer"),
    (dict(spec="conv4k30"), "conv4k30 has a 30x30 kernel"),
    (dict(spec="pool-pool-pool-pool-pool"), "cannot pool a 1x1 map"),
    (dict(spec="conv64k3-4096"), "larger than MNIST Lab supports"),  # 205M weights
    (dict(spec="conv1024k13-conv1024k13"), "larger than MNIST Lab supports"),
    (dict(input_shape=[1, 10**6, 28]), "bad architecture"),
    (dict(input_shape=[784, 1]), "bad architecture"),
    (dict(n_classes=True), "bad architecture"),
    (dict(spec=["conv4k3"]), "bad architecture"),
    (dict(activation="swish"), "bad architecture"),
])
def test_conv_architectures_are_checked_before_anything_is_read(arch, match):
    """A file declaring a network too big or impossible is refused from its metadata (the
    arrays it would need are not even looked for)."""
    cnn = make("cnn")
    data = with_meta(cnn, architecture={**cnn.architecture(), **arch})
    with pytest.raises(ModelFileError, match=match):
        load_model(data)


# ---------------------------------------------------------------------------- format 1
def test_format_1_files_still_load():
    m = load_model(V1_FILE)
    assert isinstance(m, MLP) and m.sizes == (784, 8, 10) and m.activation == "tanh"
    assert m.meta["format_version"] == 1 and m.meta["metrics"] == {"test_acc": 0.5}
    cfg = TrainConfig.from_dict(m.meta["config"])
    assert cfg == TrainConfig(hidden=(8,), activation="tanh", seed=3, epochs=1)
    # the file holds the untrained MLP((784, 8, 10), tanh, seed 3): the same draws today
    fresh = MLP((784, 8, 10), activation="tanh", seed=3)
    for k, v in fresh.state_dict().items():
        assert np.array_equal(m.state_dict()[k], v), k
    again = load_model(saved_bytes(m, config=cfg))  # saved again: format 2, same network
    assert again.meta["format_version"] == 2 and again.architecture() == m.architecture()


@pytest.mark.parametrize("sizes,match", [([784, 5000, 10], "larger than MNIST Lab supports"),
                                         ([784] + [8] * 12 + [10], "larger than MNIST Lab"),
                                         ([784, 0, 10], "bad architecture"),
                                         ([784, 8.5, 10], "bad architecture")])
def test_format_1_architectures_are_checked_before_anything_is_read(sizes, match):
    e = entries_of(V1_FILE.read_bytes())
    meta = json.loads(e[META_KEY].tobytes())
    data = rebuild({**e, META_KEY: meta_array({**meta, "architecture": {
        **meta["architecture"], "sizes": sizes}})})
    with pytest.raises(ModelFileError, match=match):
        load_model(data)


# ---------------------------------------------------------------------------- ensembles
def test_ensemble_files_keep_the_members(tmp_path):
    a, b = make("mlp"), make("cnn")
    a.meta = {"config": TrainConfig(hidden=(20,), seed=4).to_dict(), "metrics": {"test_acc": 0.8}}
    ens = Ensemble([a, b], names=["the mlp", "the cnn"])
    path = tmp_path / "ens.npz"
    save_model(ens, path, metrics={"test_acc": 0.95})
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) == {META_KEY} | {f"m0/{k}" for k in a.state_dict()} | {
            f"m1/{k}" for k in b.state_dict()}
    back = load_model(path)
    x = np.random.default_rng(2).random((30, 784), dtype=np.float32)
    assert isinstance(back, Ensemble) and back.names == ["the mlp", "the cnn"]
    assert [type(m) for m in back.members] == [type(a), type(b)]
    assert np.array_equal(back.predict_proba(x), ens.predict_proba(x))
    assert back.meta["metrics"] == {"test_acc": 0.95} and back.meta["kind"] == "ensemble"
    members = back.meta["members"]
    assert [m["name"] for m in members] == ["the mlp", "the cnn"]
    assert members[1]["architecture"]["spec"] == b.spec and members[1]["config"] is None
    assert TrainConfig.from_dict(members[0]["config"]) == TrainConfig(hidden=(20,), seed=4)
    assert back.members[0].meta["metrics"] == {"test_acc": 0.8}
    assert back.members[1].meta["name"] == "the cnn"
    copy = clone_model(ens)
    assert copy.names == ens.names and np.array_equal(copy.predict_proba(x), ens.predict_proba(x))


@pytest.mark.parametrize("change,match", [
    (dict(members="x"), "members are malformed"),
    (dict(members=[]), "members are malformed"),
    (dict(members=["x"]), "members are malformed"),
    (dict(kind="committee"), "unknown kind 'committee'"),
    (dict(members=[{"name": "no architecture"}, {}]), "no architecture"),
])
def test_bad_ensemble_metadata(change, match):
    with pytest.raises(ModelFileError, match=match):
        load_model(with_meta(make("ensemble"), **change))


def test_too_many_members_are_refused():
    ens = Ensemble([MLP((784, 2, 10), seed=i) for i in range(MAX_MEMBERS + 1)])
    with pytest.raises(ModelFileError, match="members are malformed"):
        load_model(saved_bytes(ens))


def test_a_member_s_arrays_go_to_that_member():
    """Swapping two members' arrays in the file is caught (shapes), not silently loaded."""
    ens = Ensemble([MLP((784, 3, 10), seed=1), MLP((784, 4, 10), seed=2)])
    e = entries_of(saved_bytes(ens))
    swapped = {k.replace("m0/", "mX/").replace("m1/", "m0/").replace("mX/", "m1/"): v
               for k, v in e.items()}
    with pytest.raises(ModelFileError, match=r"m0/0.W has shape \(784, 4\)"):
        load_model(rebuild(swapped))
