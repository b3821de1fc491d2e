"""Studies on the journal storage, trials trained in this process: samplers, pruners, records,
paired runs, stop flags, owners."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from optuna.distributions import FloatDistribution

from engine_helpers import ROOT, TINY
from mnist.engine import control as C
from mnist.engine import datacache
from mnist.engine import trial as T
from mnist.engine.storage import JOURNAL_NAME, open_storage
from mnist.engine.study import create_study, list_studies, open_study
from mnist.engine.trial import work
from mnist.errors import ConfigError, EngineError
from mnist.search.space import IntRange, Range
from mnist.training.loop import train
from mnist.training.persist import load_model


def test_the_default_storage_is_a_journal_in_the_runs_folder(runs_folder):
    store = open_storage()
    assert store.url == str(runs_folder / JOURNAL_NAME) and not store.is_rdb
    study = create_study(configs=[TINY.replace(epochs=1)], owner="default-test")
    assert os.path.getsize(runs_folder / JOURNAL_NAME) > 0
    assert work(study.id) == 1
    # a fresh process (the app restarted) finds the study by its id, records and all
    code = ("import json; from mnist.engine.study import open_study; "
            f"t = open_study({study.id!r}).trials()[0]; "
            "print(json.dumps([t.status, len(t.records), t.value]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True)
    status, n_records, value = json.loads(out.stdout)
    t = study.trials()[0]
    assert (status, n_records, value) == ("complete", len(t.records), t.value)
    assert n_records > 0 and t.records[-1]["status"] == "done"


def test_a_grid_runs_every_point_once_in_grid_order_and_keeps_weights(journal):
    study = create_study({"lr": [0.01, 0.1], "hidden": [(16,), (8, 8)]}, base=TINY,
                         storage=journal, title="grid")
    assert [t.status for t in study.trials()] == ["waiting"] * 4
    assert work(study.id, journal) == 4 and work(study.id, journal) == 0
    trials = study.trials()
    assert [t.values for t in trials] == [{"lr": 0.01, "hidden": (16,)},
                                          {"lr": 0.01, "hidden": (8, 8)},
                                          {"lr": 0.1, "hidden": (16,)},
                                          {"lr": 0.1, "hidden": (8, 8)}]
    for t in trials:
        assert t.status == "complete" and t.progress == 1.0
        assert t.value == t.records[-1]["val_acc"]
        # intra-epoch training records and per-epoch validation, as the curves draw them
        assert any(r["val_acc"] is None for r in t.records)
        assert [r["epoch"] for r in t.records if r["val_acc"] is not None] == [1.0, 2.0]
        model = load_model(t.weights)
        assert model.sizes == (784, *t.config.hidden, 10)
    assert study.best().value == max(t.value for t in trials)
    assert T.make_sampler(study, 0).__class__.__name__ == "GridSampler"


def test_a_paired_grid_starts_every_run_from_identical_weights_and_batches(journal):
    base = TINY.replace(epochs=1, report_every=1)
    study = create_study({"lr": [1e-6, 0.05, 0.5]}, base=base, storage=journal)
    work(study.id, journal)
    trials = study.trials()
    train_ds, _ = datacache.load(os.environ["MNIST_RUNS_DIR"])
    # the first batch's loss is measured before any update: same weights, same batch
    first = {t.records[0]["train_loss"] for t in trials}
    assert len(first) == 1
    for t in trials:
        assert t.config.seed == base.seed
        local = train(t.config, train_ds)  # what train() makes of this config, here
        list(local)
        for (W, _), (V, _) in zip(local.model.params(), load_model(t.weights).params()):
            np.testing.assert_array_equal(W, V)
        # batch by batch, the trial's losses are those of train() on this config: it saw
        # exactly the batches train() draws from the shared seed
        assert [r["train_loss"] for r in t.records] == [r["train_loss"] for r in local.history]
    unpaired = create_study({"lr": [0.05, 0.05]}, base=base, paired=False, storage=journal)
    work(unpaired.id, journal)
    a, b = unpaired.trials()
    assert (a.config.seed, b.config.seed) == (base.seed, base.seed + 1)
    assert a.records[0]["train_loss"] != b.records[0]["train_loss"]


def test_random_and_tpe_draw_inside_the_space_reproducibly(journal):
    space = {"lr": Range(1e-3, 1.0), "batch_size": IntRange(16, 64), "hidden": [(8,), (16,)]}
    runs = []
    for _ in range(2):
        s = create_study(space, base=TINY.replace(epochs=1), sampler="random", trials=3,
                         seed=7, storage=journal)
        work(s.id, journal)
        runs.append([t.values for t in s.trials()])
    assert runs[0] == runs[1]  # same seed, same draws, whichever worker ran which trial
    assert all(1e-3 <= v["lr"] <= 1.0 and 16 <= v["batch_size"] <= 64 and
               v["hidden"] in ((8,), (16,)) for v in runs[0])
    assert s.distributions["lr"] == FloatDistribution(1e-3, 1.0, log=True)  # a scale: log
    assert s.distributions["batch_size"].log is False
    tpe = create_study({"lr": Range(1e-3, 1.0)}, base=TINY.replace(epochs=1), sampler="tpe",
                       trials=5, storage=journal)
    assert work(tpe.id, journal) == 5
    assert [t.status for t in tpe.trials()] == ["complete"] * 5
    assert T.make_sampler(tpe, 4).__class__.__name__ == "TPESampler"
    tpe.add_trials(2)
    assert tpe.waiting() == 2 and tpe.n_trials == 7
    with pytest.raises(ConfigError, match="fixed set of runs"):
        create_study({"lr": [0.1]}, base=TINY, storage=journal).add_trials(1)


def test_successive_halving_prunes_the_worse_half_at_each_rung(journal):
    """Run one after another, each trial meets the trials before it at every epoch it reaches
    (rungs at epochs 1, 2, 4): it goes on only if it is in the better half of them."""
    lrs = [0.3, 0.001, 0.1, 0.0003, 0.03, 0.0001]
    study = create_study({"lr": lrs}, base=TINY.replace(epochs=4, subset=600), pruner="halving",
                         storage=journal)
    work(study.id, journal)
    trials = study.trials()
    assert {t.status for t in trials} <= {"complete", "pruned"}
    assert sum(t.status == "pruned" for t in trials) >= 2
    for rung in (1, 2, 4):
        met = []  # values at this rung of the trials before, in order
        for t in trials:
            if rung not in t.intermediate:
                continue
            v = t.intermediate[rung]
            met.append(v)
            k = max(len(met) // 2, 1)  # the better half (at least one) goes on
            promoted = v >= sorted(met, reverse=True)[k - 1]
            if rung < 4:  # promoted: it trained on to the next epoch
                assert (max(t.intermediate) > rung) == promoted, (rung, t.number, v, met)
    assert all(t.message.startswith("pruned") for t in trials if t.status == "pruned")
    hb = create_study({"lr": [0.1, 0.001]}, base=TINY.replace(epochs=2), pruner="hyperband",
                      storage=journal)
    assert work(hb.id, journal) == 2


def test_diverged_runs_end_with_their_status_and_the_study_goes_on(journal):
    study = create_study({"lr": [50.0, 0.1]}, base=TINY.replace(epochs=1), storage=journal)
    work(study.id, journal)
    blown, fine = study.trials()
    assert blown.status == "diverged" and "diverged" in blown.message
    assert blown.to_result().status == "diverged" and fine.status == "complete"
    assert study.best().number == fine.number


def test_stop_reaches_a_running_trial_at_its_next_poll(journal, monkeypatch):
    """Another process writes the flag while the trial trains; with the flag polled after
    every batch, not one more batch is trained after it. Then the weights are kept."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = create_study({"lr": [0.1, 0.05]}, base=TINY.replace(epochs=50), storage=journal)
    other = JournalStorage(JournalFileBackend(journal))  # as a second process would see it
    monkeypatch.setattr(C, "STOP_POLL_S", 0.0)
    calls, K = [0], 25
    poll = C.Steering.__call__

    def flag_at_call_k(self):
        calls[0] += 1
        if calls[0] == K:  # after batch K - 1
            other.set_study_user_attr(study.optuna._study_id, "stop:0", True)
        return poll(self)

    monkeypatch.setattr(C.Steering, "__call__", flag_at_call_k)
    assert T.run_next_trial(study) == 0
    t = study.trial(0)
    assert t.status == "stopped" and t.records[-1]["status"] == "stopped"
    assert t.records[-1]["step"] == K - 1  # batches trained after the flag: none
    assert load_model(t.weights).sizes == (784, 16, 10)
    assert study.trial(1).status == "waiting"  # one trial's stop leaves the study going


def test_the_stop_flag_is_read_often_enough():
    assert C.STOP_POLL_S <= 0.2 and T.FLUSH_S <= 0.3


def test_a_stopped_study_cancels_its_waiting_runs_until_resumed(journal):
    study = create_study({"lr": [0.1, 0.05]}, base=TINY.replace(epochs=1), storage=journal)
    study.stop()
    assert work(study.id, journal) == 0
    assert [t.status for t in study.trials()] == ["cancelled", "cancelled"]
    assert [t.progress for t in study.trials()] == [0.0, 0.0]
    study.resume()
    assert work(study.id, journal) == 2


def test_studies_of_one_owner_are_not_listed_for_another(journal):
    mine = create_study(configs=[TINY], owner="alice", storage=journal)
    theirs = create_study(configs=[TINY], owner="bob", storage=journal)
    assert [s.id for s in list_studies(journal, owner="alice")] == [mine.id]
    assert [s.id for s in list_studies(journal, owner="bob")] == [theirs.id]
    assert {s.id for s in list_studies(journal, owner=None)} >= {mine.id, theirs.id}
    assert len(mine.id) >= 20 and mine.id != theirs.id  # unguessable: token_urlsafe(16)
    from mnist.engine.study import new_id

    assert not any(new_id().startswith("-") for _ in range(500))  # safe on a command line
    assert open_study(theirs.id, journal).owner == "bob"  # the id is the key


def test_bad_plans_say_what_is_wrong(journal):
    with pytest.raises(ConfigError, match="unknown sampler"):
        create_study({"lr": [0.1]}, sampler="bayes", storage=journal)
    with pytest.raises(ConfigError, match="needs a number of trials"):
        create_study({"lr": Range(0.01, 1)}, sampler="random", storage=journal)
    with pytest.raises(ConfigError, match="momentum=1.5"):
        create_study({"momentum": Range(0.5, 1.5)}, sampler="tpe", trials=2, storage=journal)
    with pytest.raises(ConfigError, match="unknown pruner"):
        create_study({"lr": [0.1]}, pruner="median", storage=journal)
    with pytest.raises(ConfigError, match="too many"):
        create_study({"lr": Range(0.01, 1)}, sampler="random", trials=99, storage=journal)
    with pytest.raises(EngineError, match="no study named 'nope'"):
        open_study("nope", journal)


def test_an_uploaded_dataset_reaches_the_workers_by_its_key(journal):
    train_ds, _ = datacache.load(os.environ["MNIST_RUNS_DIR"])
    mine = train_ds.take(np.arange(300))
    key = datacache.save_dataset(mine)
    assert key.startswith("npz:") and datacache.save_dataset(mine) == key
    study = create_study(configs=[TINY.replace(subset=None, epochs=1)], data=key,
                         storage=journal)
    work(study.id, journal)
    t = study.trial(0)
    assert t.status == "complete"
    assert t.records[-1]["step"] == -(-225 // 32)  # 300 digits, a quarter held out
    with pytest.raises(EngineError, match="not on this machine"):
        datacache.load(os.environ["MNIST_RUNS_DIR"], "npz:feedfeedfeedfeedfeed")
