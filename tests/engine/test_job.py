"""mnist.engine.job: the Train page's one run as a one-trial study. Trained by a worker (here
`run_next_trial` in a thread of this process, as a pool's worker would), it is the very run
train() makes; it scores the test set, takes a new learning rate at the next batch, resumes
from a model, stops, is cancelled while queued, and reopens from its id alone."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import mnist
from engine_helpers import wait_for
from mnist.engine import control as C
from mnist.engine.job import EngineJob, start_job
from mnist.engine.study import open_study
from mnist.engine.trial import run_next_trial
from mnist.errors import ConfigError, DatasetError, EngineError
from mnist.training.live import StepRun, lr_changes
from mnist.training.persist import clone_model

CFG = mnist.TrainConfig(hidden=(16,), optimizer="sgd", lr=0.1, batch_size=50, epochs=2,
                        subset=1000, val_fraction=0.1, seed=3)


def _weights(model):
    return model.state_dict()


def _same(a, b):
    return all(np.array_equal(a[k], b[k]) for k in a)


def _work(job) -> threading.Thread:
    """A worker for the job's study, in a thread (the pool's would be a process)."""
    t = threading.Thread(target=run_next_trial, args=(open_study(job.id, job.study.storage),),
                         daemon=True)
    t.start()
    return t


def test_a_job_is_the_run_train_makes_and_scores_the_test_set(journal):
    job = start_job(CFG, name="run 1", owner="me", storage=journal)
    assert job.status == "queued" and not job.done and job.records == []
    _work(job).join(120)
    assert job.wait(5) and job.status == "done" and job.outcome == "done"
    epochs = [r["epoch"] for r in job.records]
    assert epochs == sorted(epochs) and epochs[-1] == 2.0 and any(0 < e < 1 for e in epochs)
    assert job.progress == 1.0 and job.n_train == 900 and job.n_val == 100
    assert job.batches_per_epoch == 18 and job.name == "run 1"
    ref = mnist.train(CFG, mnist.load_mnist()[0])  # the same run in the foreground
    history = list(ref)
    assert _same(_weights(ref.model), _weights(job.model))
    ends = [r for r in job.records if float(r["epoch"]).is_integer()]  # (foreground: no
    assert [r["val_acc"] for r in history] == [r["val_acc"] for r in ends]  # intra-epoch ones)
    test = mnist.load_mnist()[1]
    res = job.result
    assert res["n"] == len(test) and res["probs"].shape == (len(test), 10)
    np.testing.assert_array_equal(res["preds"], job.model.predict(test.x()))
    assert res["test_acc"] == pytest.approx(float(np.mean(res["preds"] == test.y())))
    assert res["confusion"].sum() == len(test)


def test_a_new_rate_is_taken_at_the_next_batch_and_recorded(journal, monkeypatch):
    monkeypatch.setattr(C, "STOP_POLL_S", 0.0)  # read the request at the very next batch
    job = start_job(CFG.replace(epochs=200), owner="me", storage=journal)
    at_call, calls = 7, [0]
    poll = C.Steering.__call__

    def ask_at(self):  # the user asks while batch `at_call - 1` has just finished
        calls[0] += 1
        if calls[0] == at_call:
            job.request_lr(0.03)
            assert job.lr_control.pending == 0.03
        if calls[0] == at_call + 40:
            job.stop()
        return poll(self)

    monkeypatch.setattr(C.Steering, "__call__", ask_at)
    _work(job).join(120)
    assert job.wait(5) and job.status == "stopped"
    (change,) = lr_changes(job.records)
    assert change["step"] == at_call - 1 and change["lr_before"] == 0.1
    assert change["lr"] == 0.03 and job.lr_control.pending is None
    assert job.records[-1]["lr"] == 0.03
    # the same change made by hand between the same two batches: identical weights
    steps = StepRun(CFG.replace(epochs=200), mnist.load_mnist()[0])
    for _ in range(at_call - 1):
        steps.step()
    steps.lr.request(0.03)
    while steps.steps < job.records[-1]["step"]:
        steps.step()
    assert _same(_weights(steps.model), _weights(job.model))


def test_bad_rates_and_scheduled_runs_are_refused(journal):
    job = start_job(CFG, owner="me", storage=journal)
    for bad in (0, -1, float("nan"), 1e9, "fast"):
        with pytest.raises(ConfigError, match="learning rate"):
            job.request_lr(bad)
    scheduled = start_job(CFG.replace(schedule="cosine"), owner="me", storage=journal)
    assert job.steerable and not scheduled.steerable
    with pytest.raises(ConfigError, match="schedule"):
        scheduled.request_lr(0.01)


def test_a_resumed_run_starts_from_the_model_and_leaves_it_as_it_was(journal):
    first = mnist.train(CFG, mnist.load_mnist()[0])
    list(first)
    before = {k: v.copy() for k, v in _weights(first.model).items()}
    job = start_job(CFG.replace(epochs=1), model=first.model, owner="me", storage=journal)
    _work(job).join(120)
    assert job.wait(5) and job.status == "done"
    ref = mnist.train(CFG.replace(epochs=1), mnist.load_mnist()[0],
                      model=clone_model(first.model))
    list(ref)
    assert _same(_weights(ref.model), _weights(job.model))
    assert _same(before, _weights(first.model))  # the original is untouched
    assert not _same(before, _weights(job.model))


def test_a_queued_job_stopped_is_cancelled_and_never_starts(journal):
    job = start_job(CFG, owner="me", storage=journal)
    job.stop()
    assert job.wait(5) and job.status == "cancelled" and job.model is None
    assert run_next_trial(open_study(job.id, journal)) is None  # no worker takes it


def test_a_job_reopens_from_its_id_alone(journal):
    job = start_job(CFG.replace(epochs=1), name="run 7", owner="me", storage=journal)
    _work(job).join(120)
    assert job.wait(5)
    again = EngineJob.reopen(job.id, journal)
    assert again.name == "run 7" and again.status == "done" and again.config == job.config
    assert again.records == job.records
    assert _same(_weights(again.model), _weights(job.model))
    assert again.result["test_acc"] == job.result["test_acc"]


def test_inputs_train_would_refuse_are_refused_before_anything_is_queued(journal):
    train = mnist.load_mnist()[0].take(np.arange(100))
    unlabeled = mnist.Dataset(train.images, None, "no labels")
    with pytest.raises(DatasetError, match="no labels"):
        start_job(CFG, train_set=unlabeled, storage=journal)
    with pytest.raises(ConfigError, match="validation"):
        start_job(CFG.replace(patience=2, val_fraction=0.0), storage=journal)
    ens = mnist.Ensemble([mnist.MLP((784, 4, 10)), mnist.MLP((784, 5, 10))])
    with pytest.raises(ConfigError, match="ensemble"):
        start_job(CFG, model=ens, storage=journal)


def test_a_failed_run_says_why(journal, monkeypatch):
    job = start_job(CFG, owner="me", storage=journal)
    monkeypatch.setattr("mnist.engine.trial.datacache.load",
                        lambda *a: (_ for _ in ()).throw(RuntimeError("disk on fire")))
    _work(job).join(60)
    assert wait_for(lambda: job.wait(0.1))
    assert job.status == "error" and "disk on fire" in job.error and job.model is None


def test_a_storage_that_goes_away_keeps_what_was_read_and_says_so(journal, monkeypatch):
    job = start_job(CFG, owner="me", storage=journal)
    assert job.status == "queued" and job.read_error is None

    def gone(*a, **k):
        raise ConnectionError("server closed the connection unexpectedly")

    monkeypatch.setattr(job.study, "trials", gone)
    assert job.view(force=True).status == "waiting"  # the last snapshot
    assert "server closed the connection" in job.read_error and journal in job.read_error
    monkeypatch.setattr(job.study.optuna, "set_user_attr", gone)
    with pytest.raises(EngineError, match="to stop the run"):
        job.stop()
    assert not job.stopping
    with pytest.raises(EngineError, match="to change the rate"):
        job.request_lr(0.05)
    fresh = EngineJob(job.study)  # nothing read yet: nothing to show, one clear line
    with pytest.raises(EngineError, match="cannot read the run"):
        fresh.view()
