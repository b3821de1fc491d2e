"""train(): learning for real on small sets, divergence, determinism, stop, early stopping,
resume, full-batch accumulation, records."""

import json
import sys

import numpy as np
import pytest

import importlib

train_mod = importlib.import_module("mnist.training.loop")  # (mnist.training.loop the attribute is the function)
from mnist import ConfigError, DatasetError, TrainConfig, build_model, evaluate_loss, train
from mnist.data.bundled import load_mnist
from mnist.data.dataset import Dataset


@pytest.fixture(scope="module")
def mnist_sets():
    return load_mnist()


@pytest.fixture(scope="module")
def small(mnist_sets):
    return mnist_sets[0].subset(600, seed=1)


def run_all(cfg, ds, **kw):
    run = train(cfg, ds, **kw)
    return run, list(run)


def test_tiny_set_overfits_to_100_percent(mnist_sets):
    ds = mnist_sets[0].take(np.arange(64))
    cfg = TrainConfig(hidden=(64,), lr=1e-2, batch_size=16, epochs=40, val_fraction=0)
    run, recs = run_all(cfg, ds)
    assert recs[-1]["status"] == "done"
    assert evaluate_loss(run.model, ds)[1] == 1.0


def test_5000_digits_reach_90_percent_on_the_test_set(mnist_sets):
    tr, te = mnist_sets
    cfg = TrainConfig(hidden=(128, 64), epochs=4, batch_size=64, subset=5000, val_fraction=0.1)
    run, recs = run_all(cfg, tr)
    assert len(run.train_set) == 4500 and len(run.validation) == 500
    loss, acc = evaluate_loss(run.model, te)
    assert acc > 0.90, acc
    assert recs[-1]["val_acc"] > 0.88 and recs[-1]["train_loss"] < recs[0]["train_loss"]


def test_records_are_plain_json_with_the_documented_fields(small):
    cfg = TrainConfig(hidden=(16,), epochs=2, batch_size=50, report_every=3)
    run, recs = run_all(cfg, small)
    json.dumps(recs)  # JSON-able
    keys = {"epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "elapsed",
            "samples_per_s", "status", "message"}
    assert all(set(r) == keys for r in recs)
    # 540 train digits / 50 = 11 batches per epoch: reports after 3, 6, 9 then the epoch record
    epochs = [r["epoch"] for r in recs]
    assert epochs[:4] == [round(3 / 11, 6), round(6 / 11, 6), round(9 / 11, 6), 1.0]
    assert [r["status"] for r in recs] == ["running"] * 7 + ["done"]
    assert recs[0]["val_loss"] is None and recs[3]["val_loss"] is not None
    assert recs[-1]["step"] == 22 and run.history == recs


def test_same_seed_same_records_other_seed_different(small):
    cfg = TrainConfig(hidden=(16,), epochs=2, batch_size=32, dropout=0.2, report_every=5)
    strip = lambda recs: [{k: v for k, v in r.items() if k not in ("elapsed", "samples_per_s")}
                          for r in recs]
    a, b = run_all(cfg, small), run_all(cfg, small)
    assert strip(a[1]) == strip(b[1])
    assert all(np.array_equal(a[0].model.state_dict()[k], b[0].model.state_dict()[k])
               for k in a[0].model.state_dict())
    c = run_all(cfg.replace(seed=1), small)
    assert strip(c[1]) != strip(a[1])


def test_prebuilt_model_gives_the_same_run(small):
    cfg = TrainConfig(hidden=(16,), epochs=1, batch_size=32)
    a = run_all(cfg, small)[1]
    b = run_all(cfg, small, model=build_model(cfg))[1]
    assert a[-1]["train_loss"] == b[-1]["train_loss"] and a[-1]["val_loss"] == b[-1]["val_loss"]


def test_lr_50_sgd_diverges_without_an_exception(small):
    cfg = TrainConfig(hidden=(32,), optimizer="sgd", lr=50, epochs=5, batch_size=32)
    run, recs = run_all(cfg, small)
    last = recs[-1]
    assert last["status"] == "diverged"
    assert "epoch 1" in last["message"] and "learning rate 50" in last["message"]
    blowup = last["blowup_loss"]  # the loss that ended the run, for the plot
    assert blowup in ("inf", "nan") or blowup > 100  # explosion: > 100 and 50x the start
    assert all(np.isfinite(a).all() for a in run.model.state_dict().values())
    json.dumps(recs)


def test_stop_is_checked_every_batch(small):
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 4  # checked once before training, then after each batch

    cfg = TrainConfig(hidden=(16,), epochs=3, batch_size=50)
    run, recs = run_all(cfg, small, stop=stop)
    assert [r["status"] for r in recs] == ["stopped"]
    assert recs[0]["step"] == 4 and recs[0]["epoch"] == round(4 / 11, 6)


def test_breaking_out_keeps_the_last_weights(small):
    cfg = TrainConfig(hidden=(16,), epochs=5, batch_size=50)
    run = train(cfg, small)
    first = next(run)
    w = run.model.state_dict()["0.W"]
    run.close()
    assert first["epoch"] == 1.0 and not np.array_equal(w, build_model(cfg).state_dict()["0.W"])


def test_early_stopping_restores_the_best_weights(mnist_sets):
    ds = mnist_sets[0].subset(300, seed=2)
    cfg = TrainConfig(hidden=(256,), lr=3e-3, batch_size=16, epochs=60, patience=2,
                      val_fraction=0.3)
    run, recs = run_all(cfg, ds)
    assert recs[-1]["status"] == "early_stopped" and len(recs) < 60
    best = min(r["val_loss"] for r in recs)
    assert evaluate_loss(run.model, run.validation)[0] == pytest.approx(best, rel=1e-5)
    assert "restored the best weights" in recs[-1]["message"]


def test_resume_continues_from_the_given_weights(small):
    cfg = TrainConfig(hidden=(32,), epochs=2, batch_size=32, val_fraction=0)
    first = run_all(cfg, small)
    again = run_all(cfg.replace(epochs=1), small, model=first[0].model)
    fresh_first_epoch = first[1][0]["train_loss"]
    assert again[1][0]["train_loss"] < first[1][-1]["train_loss"] < fresh_first_epoch


def test_full_batch_accumulation_equals_one_big_batch(small, monkeypatch):
    cfg = TrainConfig(hidden=(8,), optimizer="sgd", lr=0.5, batch_size=None, epochs=3,
                      val_fraction=0, dtype="float64")
    one = run_all(cfg, small)
    monkeypatch.setattr(train_mod, "ACCUM_CHUNK", 64)  # 600 rows -> 10 chunks per step
    chunked = run_all(cfg, small)
    assert [r["step"] for r in chunked[1]] == [1, 2, 3]
    for k, v in one[0].model.state_dict().items():
        assert np.allclose(v, chunked[0].model.state_dict()[k], rtol=1e-10, atol=1e-12)
    assert chunked[1][-1]["train_loss"] == pytest.approx(one[1][-1]["train_loss"], rel=1e-10)


def test_weight_decay_shrinks_the_weights(small):
    base = TrainConfig(hidden=(32,), epochs=2, batch_size=32, val_fraction=0)
    plain = run_all(base, small)[0].model.state_dict()["0.W"]
    decayed = run_all(base.replace(weight_decay=0.05), small)[0].model.state_dict()["0.W"]
    assert np.linalg.norm(decayed) < 0.9 * np.linalg.norm(plain)


def test_schedule_sets_the_recorded_lr(small):
    cfg = TrainConfig(hidden=(8,), epochs=4, batch_size=100, schedule="step", step_size=2,
                      gamma=0.1, lr=0.01)
    recs = run_all(cfg, small)[1]
    assert [r["lr"] for r in recs] == pytest.approx([0.01, 0.01, 0.001, 0.001])


@pytest.mark.parametrize("opt", ["sgd", "momentum", "nesterov", "rmsprop", "adam"])
def test_every_optimizer_learns(small, opt):
    lr = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "rmsprop": 1e-3, "adam": 1e-3}[opt]
    cfg = TrainConfig(hidden=(32,), optimizer=opt, lr=lr, epochs=3, batch_size=32)
    recs = run_all(cfg, small)[1]
    assert recs[-1]["status"] == "done" and recs[-1]["val_acc"] > 0.7, recs[-1]


def test_augment_is_used_with_the_run_generator(small, monkeypatch):
    seen = []

    class Fake:
        @staticmethod
        def augment_batch(x, rng):
            seen.append((x.shape, isinstance(rng, np.random.Generator)))
            return x
    monkeypatch.setitem(sys.modules, "mnist.data.augment", Fake)
    run_all(TrainConfig(hidden=(8,), epochs=1, batch_size=100, augment=True), small)
    assert seen and all(shape[1] == 784 and is_gen for shape, is_gen in seen)


def test_bad_inputs_are_refused_before_training(small):
    unlabeled = Dataset(small.images, None, "unlabeled")
    with pytest.raises(DatasetError, match="no labels"):
        train(TrainConfig(), unlabeled)
    with pytest.raises(ConfigError, match="TrainConfig"):
        train({"lr": 0.1}, small)
    with pytest.raises(DatasetError, match="must be a Dataset, got NoneType"):
        train(TrainConfig(), None)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fast_path_trains_like_the_plain_layers(small, monkeypatch, optimizer):
    """train() on the fast path (own batch gathering; for SGD the fused update) and on the
    plain layers (forced): the same minibatches, the same records within float32 rounding."""
    from mnist.nn.fast import FastPath

    cfg = TrainConfig(hidden=(32, 16), optimizer=optimizer, lr=0.05 if optimizer == "sgd"
                      else 1e-3, batch_size=50, epochs=2, val_fraction=0.1, weight_decay=1e-4,
                      schedule="cosine")
    calls = []
    real = FastPath.loaded
    monkeypatch.setattr(FastPath, "loaded", lambda self, *a, **k: calls.append(k) or
                        real(self, *a, **k))
    fast_run, fast = run_all(cfg, small)
    assert calls and all(("lr" in k) == (optimizer == "sgd") for k in calls)
    n_fast = len(calls)
    monkeypatch.setattr(FastPath, "supports", staticmethod(lambda model: False))
    plain_run, plain = run_all(cfg, small)
    assert len(calls) == n_fast  # this time, no fast step
    assert [r["step"] for r in fast] == [r["step"] for r in plain]
    for f, p in zip(fast, plain):
        assert f["train_acc"] == pytest.approx(p["train_acc"], abs=2 / 540)
        for key in ("train_loss", "val_loss", "val_acc"):
            assert f[key] == pytest.approx(p[key], rel=1e-3, abs=1e-4), key
    for k, v in fast_run.model.state_dict().items():
        np.testing.assert_allclose(v, plain_run.model.state_dict()[k], rtol=1e-3, atol=1e-4)


def test_the_stepper_is_chosen_once_by_what_the_fast_path_supports(small):
    """make_stepper is the one place: big batches accumulate, float32 nets the fast path
    supports gather their own batches, the rest (dropout, float64, augmentation) go plain."""
    from mnist.nn.optim import make_optimizer
    from mnist.training.steps import Accumulated, Gathered, Plain, make_stepper

    def stepper(B=32, chunk=8192, augment=None, **kw):
        model = build_model(TrainConfig(hidden=(8,), **kw))
        opt = make_optimizer("sgd", model.params(), 0.1)
        return make_stepper(model, opt, small, B, 0.0, augment, None, chunk=chunk)

    assert isinstance(stepper(), Gathered)
    assert isinstance(stepper(dropout=0.2), Plain)
    assert isinstance(stepper(dtype="float64"), Plain)
    assert isinstance(stepper(augment=lambda x, rng: x), Plain)
    assert isinstance(stepper(B=600, chunk=64), Accumulated)
