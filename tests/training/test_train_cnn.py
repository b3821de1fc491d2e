"""train() on conv nets, the same way as on MLPs: a tiny CNN overfits a small set, resume
continues bit-identically, divergence, stop, early stopping, every optimizer, init,
activation, schedule, dropout, weight decay (conv weights too), augmentation, float64 and
full-batch accumulation. Small nets on a few hundred digits: seconds, not minutes."""

import json

import numpy as np
import pytest

from mnist import ConfigError, TrainConfig, build_model, evaluate_loss, load_model, save_model, \
    train
from mnist.data.bundled import load_mnist
from mnist.nn.activations import ACTIVATIONS
from mnist.nn.conv import Conv2D
from mnist.nn.fast import FastPath
from mnist.nn.layers import INITS, Dropout
from mnist.nn.spec import working_floats
from mnist.training.persist import clone_model

TINY = "conv4k3-pool-conv8k3-pool-16"


@pytest.fixture(scope="module")
def small():
    return load_mnist()[0].subset(300, seed=1)


def cnn(**kw):
    return TrainConfig(**{**dict(layers=TINY, batch_size=32, epochs=1, val_fraction=0), **kw})


def run_all(cfg, ds, **kw):
    run = train(cfg, ds, **kw)
    return run, list(run)


def conv_W(model):
    return model.state_dict()["0.W"]  # the first conv layer's (4, 1, 3, 3)


def test_a_tiny_cnn_overfits_a_small_set():
    ds = load_mnist()[0].take(np.arange(64))
    cfg = TrainConfig(layers="conv4k3-pool-16", lr=1e-2, batch_size=16, epochs=30,
                      val_fraction=0)
    run, recs = run_all(cfg, ds)
    assert isinstance(run.model.layers[0], Conv2D) and recs[-1]["status"] == "done"
    assert evaluate_loss(run.model, ds)[1] == 1.0
    json.dumps(recs)


def test_the_plain_path_takes_over_and_learns(small):
    model = build_model(cnn())
    assert "Conv2D" in FastPath.declines(model)
    run, recs = run_all(cnn(epochs=3, lr=1e-2, val_fraction=0.2), small)
    assert recs[-1]["val_acc"] > 0.5 and recs[-1]["train_loss"] < recs[0]["train_loss"]
    assert run.model.kind == "cnn" and len(run.validation) == 60


def test_same_seed_same_run_and_resume_is_bit_identical(small, tmp_path):
    """The same config gives the same weights; a saved and reloaded (or cloned) model trains
    on exactly as the model in memory does."""
    cfg = cnn(dropout=0.2, report_every=3)
    a, b = run_all(cfg, small)[0], run_all(cfg, small)[0]
    for k, v in a.model.state_dict().items():
        assert np.array_equal(v, b.model.state_dict()[k]), k
    before = a.model.state_dict()
    save_model(a.model, tmp_path / "cnn.npz", config=cfg)
    models = [a.model, load_model(tmp_path / "cnn.npz"), clone_model(b.model)]
    runs = [run_all(cfg.replace(seed=5), small, model=m) for m in models]
    first = runs[0][0].model.state_dict()
    for run, recs in runs[1:]:
        assert [r["train_loss"] for r in recs] == [r["train_loss"] for r in runs[0][1]]
        for k, v in run.model.state_dict().items():
            assert np.array_equal(v, first[k]), k
    assert not np.array_equal(first["0.W"], before["0.W"])  # it trained on


def test_a_huge_learning_rate_diverges_without_an_exception(small):
    run, recs = run_all(cnn(optimizer="sgd", lr=50, epochs=3), small)
    assert recs[-1]["status"] == "diverged" and "learning rate 50" in recs[-1]["message"]
    assert all(np.isfinite(v).all() for v in run.model.state_dict().values())


def test_stop_is_checked_every_batch(small):
    calls = []
    run, recs = run_all(cnn(epochs=3), small, stop=lambda: calls.append(1) or len(calls) > 3)
    assert [r["status"] for r in recs] == ["stopped"] and recs[0]["step"] == 3


def test_early_stopping_restores_the_best_weights(small):
    cfg = TrainConfig(layers=TINY, lr=3e-2, batch_size=16, epochs=30, patience=1,
                      val_fraction=0.3)
    run, recs = run_all(cfg, small)
    assert recs[-1]["status"] == "early_stopped" and len(recs) < 30
    best = min(r["val_loss"] for r in recs)
    assert evaluate_loss(run.model, run.validation)[0] == pytest.approx(best, rel=1e-5)


@pytest.mark.parametrize("opt,lr", [("sgd", 0.05), ("momentum", 0.02), ("nesterov", 0.02),
                                    ("rmsprop", 1e-3), ("adam", 1e-3)])
def test_every_optimizer_steps_every_layer(small, opt, lr):
    cfg = cnn(optimizer=opt, lr=lr, epochs=2)
    start = build_model(cfg).state_dict()
    run, recs = run_all(cfg, small)
    assert recs[-1]["status"] == "done" and recs[-1]["train_loss"] < recs[0]["train_loss"]
    end = run.model.state_dict()
    assert all(not np.array_equal(end[k], v) for k, v in start.items())  # conv and dense


@pytest.mark.parametrize("init", sorted(INITS))
def test_every_init_draws_the_conv_weights_and_trains(small, init):
    """The second conv layer (8 x 4 x 3 x 3: fan-in 36, fan-out 8) starts as the init says."""
    cfg = cnn(init=init, optimizer="sgd", lr=0.01)
    start = build_model(cfg).state_dict()
    W, b = start["1.W"], start["1.b"]
    if init == "uniform":
        assert np.abs(W).max() <= 0.5 and np.abs(b).max() <= 0.5 and np.any(b != 0)
    else:
        assert not np.any(b)
    if init == "normal001":
        assert np.abs(W).max() < 0.05
    if init == "xavier":
        assert np.abs(W).max() <= np.sqrt(6 / (36 + 8)) and W.std() > 0.1
    if init == "he":
        assert W.std() == pytest.approx(np.sqrt(2 / 36), rel=0.2)
    run, recs = run_all(cfg, small)
    assert recs[-1]["status"] == "done"
    assert not np.array_equal(run.model.state_dict()["1.W"], W)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_learns(small, activation):
    run, recs = run_all(cnn(activation=activation, lr=3e-3, epochs=2), small)
    assert recs[-1]["train_loss"] < recs[0]["train_loss"]
    assert all(a.name == activation for a in run.model.layers if hasattr(a, "f"))


def test_schedule_sets_the_recorded_lr(small):
    cfg = cnn(epochs=4, batch_size=100, schedule="step", step_size=2, gamma=0.1, lr=0.01)
    assert [r["lr"] for r in run_all(cfg, small)[1]] == pytest.approx([0.01, 0.01, 1e-3, 1e-3])


def test_dropout_follows_the_dense_layers_and_draws_from_the_run(small):
    cfg = cnn(dropout=0.5)
    run, recs = run_all(cfg, small)
    kinds = [type(layer).__name__ for layer in run.model.layers]
    assert kinds.count("Dropout") == 1 and kinds.index("Dropout") > kinds.index("Dense")
    without = run_all(cfg.replace(dropout=0.0), small)[1]
    assert recs[-1]["train_loss"] != without[-1]["train_loss"]
    assert any(isinstance(layer, Dropout) for layer in build_model(cfg).layers)


def test_weight_decay_shrinks_the_conv_weights_too(small):
    plain = run_all(cnn(epochs=2, optimizer="sgd", lr=0.05), small)[0].model.state_dict()
    decayed = run_all(cnn(epochs=2, optimizer="sgd", lr=0.05, weight_decay=0.5), small)[0]
    decayed = decayed.model.state_dict()
    for k in ("0.W", "1.W", "2.W"):  # both convs and the Dense layer
        assert np.linalg.norm(decayed[k]) < 0.95 * np.linalg.norm(plain[k]), k


def test_augmentation_changes_the_batches(small):
    a = run_all(cnn(), small)[1]
    b = run_all(cnn(augment=True), small)[1]
    assert a[-1]["train_loss"] != b[-1]["train_loss"] and b[-1]["status"] == "done"


def test_float64_and_mse(small):
    run, recs = run_all(cnn(dtype="float64", loss="mse", lr=3e-3, epochs=2), small)
    assert run.model.dtype == np.float64 and run.model.loss == "mse"
    assert recs[-1]["train_loss"] < recs[0]["train_loss"]


def test_full_batch_accumulates_in_chunks_like_one_big_batch(small, monkeypatch):
    """A conv net's big batch is split to bound memory; the update is the one big batch's."""
    import mnist.training.steps as steps

    cfg = cnn(batch_size=None, optimizer="sgd", lr=0.1, epochs=2, dtype="float64")
    one = run_all(cfg, small)
    per_image = 8 * sum(working_floats(TINY))  # float64 training buffers of one image
    monkeypatch.setattr(steps, "TRAIN_BYTES", 50 * per_image)
    assert build_model(cfg).rows_within(steps.TRAIN_BYTES, training=True) == 50
    chunked = run_all(cfg, small)
    for k, v in one[0].model.state_dict().items():
        np.testing.assert_allclose(chunked[0].model.state_dict()[k], v, rtol=1e-10, atol=1e-12)
    assert chunked[1][-1]["train_loss"] == pytest.approx(one[1][-1]["train_loss"], rel=1e-10)


def test_a_model_that_is_not_mnist_shaped_is_refused(small):
    from mnist.nn.model import Network

    other = Network("conv2k3-pool", input_shape=(1, 10, 10), n_classes=3)
    with pytest.raises(ConfigError, match="must map 784 pixels to 10 classes, maps 100 to 3"):
        train(cnn(), small, model=other)
