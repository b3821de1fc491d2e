"""mnist.training.live: a learning rate changed mid-run takes effect at the next batch and is a
record of its own; a run stepped one batch at a time is train() itself (same weights)."""

import numpy as np
import pytest

import mnist
from mnist.errors import ConfigError
from mnist.training.live import LearningRateControl, StepRun, batches_per_epoch, lr_changes


@pytest.fixture(scope="module")
def digits():
    train, _ = mnist.load_mnist()
    return train.take(np.arange(600), "train 600")


def _cfg(**kw):
    base = dict(hidden=(16,), optimizer="sgd", lr=0.1, batch_size=50, epochs=2,
                val_fraction=0.0, seed=3)
    return mnist.TrainConfig(**{**base, **kw})


def _weights(model):
    return model.state_dict()


def _same(a, b):
    return all(np.array_equal(a[k], b[k]) for k in a)


def test_batches_per_epoch():
    assert batches_per_epoch(600, 50) == 12 and batches_per_epoch(601, 50) == 13
    assert batches_per_epoch(600, None) == 1 and batches_per_epoch(600, 10_000) == 1


def test_stepping_through_a_run_is_train_itself(digits):
    cfg = _cfg(val_fraction=0.1)
    steps = StepRun(cfg, digits)
    n = steps.batches_per_epoch * cfg.epochs
    recs = [steps.step() for _ in range(n)]
    assert [r["step"] for r in recs] == list(range(1, n + 1))
    assert recs[-1]["status"] == "done" and recs[-1]["epoch"] == 2.0
    assert steps.done and steps.step() is None
    # one record per batch; the epoch's last batch carries its validation
    assert [r["val_acc"] is not None for r in recs].count(True) == 2
    ref = mnist.train(cfg, digits)
    ref_recs = list(ref)
    assert _same(_weights(steps.model), _weights(ref.model))
    assert recs[-1]["val_loss"] == ref_recs[-1]["val_loss"]


def test_a_rate_asked_for_before_the_first_step_is_the_run_at_that_rate(digits):
    steps = StepRun(_cfg(), digits)
    steps.lr.request(0.02)
    assert steps.current_lr == 0.02
    for _ in range(5):
        steps.step()
    ref = mnist.train(_cfg(lr=0.02), digits, report_every=1)
    for _ in range(5):
        next(ref)
    assert _same(_weights(steps.model), _weights(ref.model))
    (change,) = lr_changes(steps.records)
    assert (change["epoch"], change["step"]) == (0, 0)
    assert (change["lr_before"], change["lr"]) == (0.1, 0.02)


def test_a_rate_changed_mid_run_takes_effect_at_the_next_batch(digits):
    cfg = _cfg(dtype="float64")  # exact enough to compare two steps' sizes
    a, b = StepRun(cfg, digits), StepRun(cfg, digits)
    for _ in range(4):
        a.step(), b.step()
    w4 = _weights(a.model)
    b.lr.request(0.5)
    a.step(), b.step()
    # batch 5 ran at 0.5 in b: for plain SGD, w5 - w4 = -lr * gradient, the same gradient
    da = {k: v - w4[k] for k, v in _weights(a.model).items()}
    db = {k: v - w4[k] for k, v in _weights(b.model).items()}
    for k in da:
        np.testing.assert_allclose(db[k], 5.0 * da[k], rtol=1e-9, atol=1e-15)
    change = lr_changes(b.records)[0]
    assert change["step"] == 4 and change["epoch"] == round(4 / 12, 6)
    assert b.records[-1]["lr"] == 0.5 and a.records[-1]["lr"] == 0.1
    assert b.records.index(change) == 4  # between batch 4's record and batch 5's


def test_bad_rates_and_scheduled_runs_are_refused(digits):
    steps = StepRun(_cfg(), digits)
    for bad in (0, -1, float("nan"), 1e9, "fast"):
        with pytest.raises(ConfigError, match="learning rate"):
            steps.lr.request(bad)
    assert steps.lr.pending is None
    for cfg in (_cfg(schedule="cosine"), _cfg(warmup_epochs=1.0)):
        control = LearningRateControl(cfg)
        assert not control.steerable
        with pytest.raises(ConfigError, match="schedule"):
            control.request(0.01)


def test_a_diverging_step_ends_the_run(digits):
    steps = StepRun(_cfg(lr=100.0, init="uniform"), digits)
    for _ in range(30):
        if steps.step() is None:
            break
    assert steps.status == "diverged" and steps.done
    assert steps.records[-1]["status"] == "diverged"
    assert all(np.isfinite(v).all() for v in _weights(steps.model).values())

