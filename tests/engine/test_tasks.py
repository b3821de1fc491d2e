"""The engine's tasks (mnist.engine.tasks), the short jobs pages offer beside a run, each a
one-trial study a worker runs: the learning-rate range test (start_range_test) and fine-tuning
on a user's digits (start_fine_tune). Each result is the very one the foreground function
makes; refused inputs fail before anything is queued; a search's "My studies" lists neither;
a spawned pool worker runs them as the pages do."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import mnist
from mnist.data.dataset import Dataset
from mnist.analysis.mydigits import fine_tune, held_out_accuracy
from mnist.engine.job import EngineJob, start_fine_tune, start_range_test
from mnist.engine.pool import Pool
from mnist.engine.study import list_studies, open_study
from mnist.engine.tasks import FINE_TUNE, RANGE_TEST
from mnist.engine.trial import run_next_trial
from mnist.errors import ConfigError, DatasetError
from mnist.training.lr_finder import lr_range_test

CFG = mnist.TrainConfig(hidden=(16,), optimizer="sgd", batch_size=32, seed=4)


def _work(job) -> None:
    t = threading.Thread(target=run_next_trial, args=(open_study(job.id, job.study.storage),),
                         daemon=True)
    t.start()
    t.join(120)


def test_the_range_test_runs_in_a_worker_and_is_the_foreground_test(journal):
    job = start_range_test(CFG, steps=60, owner="me", storage=journal)
    assert job.status == "queued" and job.lr_range is None
    assert open_study(job.id, journal).plan["task"] == RANGE_TEST
    _work(job)
    assert job.wait(5) and job.status == "done"
    got = job.lr_range
    ref = lr_range_test(CFG, mnist.load_mnist()[0], steps=60).to_dict()
    assert got["lrs"] == ref["lrs"] and got["losses"] == ref["losses"]
    assert got["suggested"] == ref["suggested"] and got["message"] == ref["message"]
    assert got["config"] == ref["config"] and len(got["lrs"]) == 60


def test_refused_inputs_fail_before_anything_is_queued(journal):
    with pytest.raises(ConfigError, match="steps must be an integer in 10"):
        start_range_test(CFG, steps=3, storage=journal)
    unlabelled = Dataset(mnist.load_mnist()[1].images[:50], None)
    with pytest.raises(DatasetError, match="labelled"):
        start_range_test(CFG, steps=50, train_set=unlabelled, storage=journal)
    assert list_studies(journal, owner=None) == []


def test_a_searchs_list_of_studies_leaves_it_out(journal):
    start_range_test(CFG, steps=50, owner="me", storage=journal)
    assert list_studies(journal, owner="me") == []
    assert [s.title for s in list_studies(journal, owner=None)] == ["learning-rate range test"]


def test_a_pool_worker_process_runs_it(journal):
    pool = Pool(1)
    try:
        job = start_range_test(CFG.replace(hidden=(8,)), steps=40, owner="me", pool=pool,
                               storage=journal)
        assert job.wait(120) and job.status == "done", job.message
        assert len(job.lr_range["lrs"]) == 40
        again = EngineJob.reopen(job.id, journal)  # a reload finds it by id
        assert again.lr_range == job.lr_range
    finally:
        pool.close()


# ------------------------------------------------------------------------------ fine-tuning
def _my_digits(n=12, seed=5):
    test = mnist.load_mnist()[1]
    pick = np.random.default_rng(seed).choice(len(test), n, replace=False)
    return test.images[pick], (test.labels[pick] + 1) % 10  # taught wrong labels: it must learn


def test_a_fine_tune_runs_in_a_worker_and_is_the_foreground_fine_tune(journal):
    model = mnist.build_model(mnist.TrainConfig(hidden=(16,), seed=1))
    before = model.state_dict()
    xs, ys = _my_digits()
    job = start_fine_tune(model, xs, ys, owner="me", storage=journal)
    assert open_study(job.id, journal).plan["task"] == FINE_TUNE
    _work(job)
    assert job.wait(5) and job.status == "done", job.message
    train = mnist.load_mnist()[0]
    new, cfg, history = fine_tune(model, xs, ys, train)  # the same, in the foreground
    held = held_out_accuracy(model, xs, ys, train)
    got = job.fine_tune
    assert got["held"] == held and got["config"] == cfg.to_dict()
    assert [r["train_loss"] for r in got["history"]] == [r["train_loss"] for r in history]
    assert all(np.array_equal(job.model.state_dict()[k], new.state_dict()[k]) for k in before)
    assert all(np.array_equal(model.state_dict()[k], before[k]) for k in before)  # untouched
    assert list_studies(journal, owner="me") == []  # not a search of "My studies"


def test_a_fine_tune_refuses_what_it_cannot_use(journal):
    model = mnist.build_model(mnist.TrainConfig(hidden=(8,)))
    xs, ys = _my_digits(4)
    with pytest.raises(DatasetError, match="labels 0-9"):
        start_fine_tune(model, xs, ys[:3], storage=journal)
    with pytest.raises(DatasetError, match="labels 0-9"):
        start_fine_tune(model, xs[:0], ys[:0], storage=journal)
    with pytest.raises(ConfigError, match="no training config"):
        start_fine_tune(object(), xs, ys, storage=journal)
    assert list_studies(journal, owner=None) == []
