"""The worker pool: spawned processes, fair queues, a killed worker costs one trial, Stop."""

from __future__ import annotations

import multiprocessing.popen_fork
import os
import signal
import time
from collections import deque

import pytest

from engine_helpers import TINY, wait_for
from mnist.engine.pool import Pool, round_robin
from mnist.engine.study import create_study
from mnist.training.persist import load_model


@pytest.fixture(scope="module")
def pool():
    p = Pool(2)
    assert p.wait_ready(120)
    yield p
    p.close()


def test_a_grid_runs_on_two_worker_processes(pool, journal):
    study = create_study({"lr": [0.01, 0.05, 0.1, 0.3]}, base=TINY.replace(subset=3000),
                         owner="grid", storage=journal)
    assert pool.submit(study) == 4
    assert pool.wait(study.id, timeout=120)
    trials = study.trials()
    assert [t.status for t in trials] == ["complete"] * 4
    assert {t.worker["pid"] for t in trials} == set(pool.pids())  # both workers took runs
    assert os.getpid() not in {t.worker["pid"] for t in trials}  # none ran in this process


def test_queues_are_served_round_robin_over_owners():
    queues = {"a": deque(["a1", "a2", "a3"]), "b": deque(["b1"]), "c": deque(["c1", "c2"])}
    assert round_robin(queues, deque(["a", "b", "c"])) == ["a1", "b1", "c1", "a2", "c2", "a3"]
    assert round_robin(queues, deque(["c", "a", "b"]))[:3] == ["c1", "a1", "b1"]
    # an owner with runs going waits for those with fewer
    assert round_robin(queues, deque(["a", "b", "c"]), {"a": 2, "c": 1}) == \
        ["b1", "c1", "a1", "c2", "a2", "a3"]
    assert round_robin({}, deque()) == []


def test_a_second_owner_does_not_wait_behind_a_long_queue(pool, journal):
    big = create_study({"lr": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06]}, owner="big",
                       base=TINY.replace(subset=6000, epochs=3), storage=journal)
    small = create_study(configs=[TINY], owner="small", storage=journal)
    pool.submit(big)
    wait_for(lambda: pool.running(big.id) == 2)
    pool.submit(small)
    assert pool.position(small.id) == 1  # next, not seventh
    assert pool.position(big.id) == 2
    assert pool.wait(small.id, timeout=120)
    done_small = small.trials()[0].finished_at
    assert sum(t.finished_at is not None and t.finished_at < done_small
               for t in big.trials()) <= 3  # the two running + at most one more
    big.stop()
    pool.cancel(big.id)
    assert pool.wait(timeout=120) and pool.position(big.id) is None


def test_a_worker_killed_mid_trial_fails_its_trial_and_the_study_goes_on(pool, journal):
    study = create_study({"lr": [0.01, 0.05, 0.1]}, base=TINY.replace(subset=6000, epochs=4),
                         storage=journal)
    before = pool.failed_workers
    pool.submit(study)
    running = wait_for(lambda: [t for t in study.trials() if t.status == "running" and
                                t.records])
    victim = running[0]
    os.kill(victim.worker["pid"], signal.SIGKILL)
    dead = wait_for(lambda: study.trial(victim.number).status == "failed" and
                    study.trial(victim.number), timeout=10)
    assert "SIGKILL" in dead.message or "died" in dead.message
    assert pool.wait(study.id, timeout=120)
    statuses = [t.status for t in study.trials()]
    assert statuses.count("failed") == 1 and statuses.count("complete") == 2
    assert pool.failed_workers == before + 1 and len(pool.pids()) == 2
    assert pool.wait_ready(120)  # the replacement is up


def test_stop_reaches_a_trial_in_a_worker_within_half_a_second_of_its_training(pool, journal):
    study = create_study(configs=[TINY.replace(subset=6000, epochs=40, report_every=5)],
                         storage=journal)
    pool.submit(study)
    wait_for(lambda: len(study.trial(0).records) > 20)
    flagged_at = time.time()
    study.stop_trial(0)
    assert pool.wait(study.id, timeout=120)
    t = study.trial(0)
    assert t.status == "stopped" and t.records[-1]["status"] == "stopped"
    assert load_model(t.weights).sizes == (784, 16, 10)  # weights kept
    # Batches trained after the flag, on the trial's own timeline (records carry the seconds
    # since its start): at most what it trains in half a second at its own speed.
    before = [r for r in t.records if t.started + r["elapsed"] <= flagged_at]
    after = t.records[-1]["step"] - before[-1]["step"]
    per_s = before[-1]["step"] / before[-1]["elapsed"]
    assert after <= 0.5 * per_s, (after, per_s)


def test_nothing_forks(monkeypatch, journal):
    def refuse(*a, **k):
        raise AssertionError("fork was used")

    monkeypatch.setattr(os, "fork", refuse)
    monkeypatch.setattr(multiprocessing.popen_fork.Popen, "_launch", refuse)
    with pytest.raises(ValueError, match="never forks"):
        Pool(1, start_method="fork")
    p = Pool(1)
    try:
        study = create_study(configs=[TINY.replace(epochs=1)], storage=journal)
        p.submit(study)
        assert p.wait(study.id, timeout=120)
        assert study.trial(0).status == "complete"
        assert p.start_method in ("spawn", "forkserver")
    finally:
        p.close()


def test_the_pool_is_sized_to_the_container_not_the_host(monkeypatch, tmp_path):
    from mnist.engine import pool as P

    cpu_max = tmp_path / "cpu.max"
    monkeypatch.setattr(P, "CPU_MAX", str(cpu_max))
    monkeypatch.setattr(P.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    monkeypatch.delenv(P.WORKERS_ENV, raising=False)
    cpu_max.write_text("150000 100000\n")  # a quota of 1.5 CPUs: 2 workers
    assert P.available_cores() == 2 and P.default_workers() == 2
    cpu_max.write_text("max 100000\n")  # no quota: the CPU set
    assert P.available_cores() == 64
    cpu_max.unlink()  # no cgroup v2 at all
    assert P.available_cores() == 64
    monkeypatch.setenv(P.WORKERS_ENV, "3")
    assert P.default_workers() == 3
    monkeypatch.setenv(P.WORKERS_ENV, "many")
    with pytest.raises(ValueError, match="MNIST_WORKERS"):
        P.default_workers()


def test_two_workers_making_the_cache_at_once_map_one_file(tmp_path):
    """The first complete file stays; a later writer's copy is dropped, never swapped in under
    a worker that maps the first (whose pages would then not be shared)."""
    import numpy as np

    from mnist.engine import datacache

    path = tmp_path / "x.npy"
    datacache._save_atomic(path, np.arange(5))
    first = np.load(path, mmap_mode="r")
    inode = os.stat(path).st_ino
    datacache._save_atomic(path, np.arange(5) * 2)  # another worker, a moment later
    assert os.stat(path).st_ino == inode and os.stat(path).st_nlink == 1
    np.testing.assert_array_equal(np.load(path), np.arange(5))
    np.testing.assert_array_equal(first, np.arange(5))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]  # no temporary left
