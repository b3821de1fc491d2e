"""mnist.training.jobs.TrainingJob: trains in a thread, reports records, stops within a batch and keeps
the model, refuses bad inputs at once, records a crash instead of raising it."""

import gc
import time

import numpy as np
import pytest

import mnist
from mnist.training.config import config_for_model
from mnist.training.jobs import TrainingJob, report_every_for
from mnist.training.persist import clone_model


@pytest.fixture(scope="module")
def data():
    train, test = mnist.load_mnist()
    return train.take(np.arange(4000), "train 4k"), test.take(np.arange(500), "test 500")


def test_a_job_runs_to_the_end_and_scores_the_test_set(data):
    train, test = data
    cfg = mnist.TrainConfig(hidden=(16,), epochs=2, batch_size=50, val_fraction=0.1)
    job = TrainingJob(cfg, train, test=test).start()
    assert job.wait(60) and job.status == "done"
    epochs = [r["epoch"] for r in job.records]
    assert epochs == sorted(epochs) and epochs[-1] == 2.0
    assert any(0 < e < 1 for e in epochs)  # intra-epoch records
    assert job.progress == 1.0 and job.result["n"] == 500
    ref = mnist.train(cfg, train)  # the same run in the foreground: identical weights
    list(ref)
    for k, v in ref.model.state_dict().items():
        np.testing.assert_array_equal(v, job.model.state_dict()[k])


def test_stop_ends_within_a_batch_and_keeps_the_last_weights(data):
    train, _ = data
    cfg = mnist.TrainConfig(hidden=(64,), epochs=200, batch_size=8, val_fraction=0.0)
    checks_after_stop = []

    class Counted(TrainingJob):
        def _should_stop(self):  # the loop asks this once per batch
            answer = super()._should_stop()
            if self._stop.is_set():
                checks_after_stop.append(answer)
            return answer

    job = Counted(cfg, train).start()
    while not job.records:
        time.sleep(0.01)
    job.stop()
    assert job.wait_ended(5) and job.outcome == "stopped"
    assert checks_after_stop == [True]  # the first check after Stop ended it: no further batch
    assert job.wait(5)
    assert job.status == "stopped" and job.records[-1]["epoch"] < 200
    assert all(np.isfinite(v).all() for v in job.model.state_dict().values())


def test_a_job_stops_when_its_owner_is_gone(data):
    train, _ = data

    class Owner:
        pass

    owner = Owner()
    cfg = mnist.TrainConfig(hidden=(32,), epochs=200, batch_size=8, val_fraction=0.0)
    job = TrainingJob(cfg, train, owner=owner).start()
    while not job.records:
        time.sleep(0.01)
    assert not job.done
    del owner
    gc.collect()
    assert job.wait(5) and job.status == "stopped"


def test_an_abandoned_job_stops_unless_touched(data):
    train, _ = data
    cfg = mnist.TrainConfig(hidden=(32,), epochs=200, batch_size=8, val_fraction=0.0)
    job = TrainingJob(cfg, train, abandon_after=0.6).start()
    t = time.time()
    while time.time() - t < 1.2:  # watched: keeps going past abandon_after
        job.touch()
        time.sleep(0.1)
    assert not job.done
    assert job.wait(5) and job.status == "stopped" and "nobody looked" in job.message


def test_bad_inputs_fail_at_once_and_a_crash_is_recorded(data):
    train, _ = data
    unlabeled = mnist.Dataset(train.images[:100], None, "no labels")
    with pytest.raises(mnist.DatasetError):
        TrainingJob(mnist.TrainConfig(), unlabeled)

    job = TrainingJob(mnist.TrainConfig(hidden=(4,), epochs=1, val_fraction=0.0), train)
    job.run._gen = iter([{"epoch": 0.5, "status": "running"}, None])  # a record that breaks
    job.start()
    assert job.wait(10) and job.status == "error" and "AttributeError" in job.error


def test_clone_resume_and_report_every():
    m = mnist.MLP((784, 5, 10), seed=1, activation="tanh")
    c = clone_model(m)
    assert c is not m and c.sizes == m.sizes and c.activation == "tanh"
    c.dense[0].W[0, 0] += 1
    assert m.dense[0].W[0, 0] != c.dense[0].W[0, 0]
    cfg = config_for_model(mnist.TrainConfig(hidden=(128, 64)), m)
    assert cfg.hidden == (5,) and cfg.activation == "tanh"
    assert report_every_for(54000, 32) == 1687 // 20
    assert report_every_for(1000, None) is None and report_every_for(300, 32) == 1
