"""The learning-rate range test on the engine (mnist.engine.job.start_range_test): a one-trial
study a worker runs, whose result is the very test `lr_range_test` makes in the foreground;
refused inputs fail before anything is queued; a search's "My studies" does not list it; the
test run on a spawned pool worker, as the Search page runs it."""

from __future__ import annotations

import threading

import pytest

import mnist
from mnist.data.dataset import Dataset
from mnist.engine.job import EngineJob, start_range_test
from mnist.engine.pool import Pool
from mnist.engine.study import RANGE_TEST, list_studies, open_study
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
