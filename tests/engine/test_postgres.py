"""Many machines: a real PostgreSQL server, `python -m mnist worker` processes started apart,
the heartbeat, and clear one-line errors for storages that cannot work."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from engine_helpers import ROOT, TINY, start_worker, wait_for
from mnist.engine.storage import open_storage
from mnist.engine.study import create_study, list_studies, open_study
from mnist.errors import EngineError
from mnist.search.space import Range


def test_two_worker_processes_share_a_study_on_postgres(pg_url):
    study = create_study({"lr": Range(0.01, 0.5)}, base=TINY, sampler="tpe", trials=4,
                         owner="class", storage=pg_url)
    workers = [start_worker(pg_url, study.id, "--trials", "2") for _ in range(2)]
    for w in workers:
        out, err = w.communicate(timeout=180)
        assert w.returncode == 0, err
        assert "ran 2 runs" in out
    trials = study.trials()
    assert [t.status for t in trials] == ["complete"] * 4
    pids = {t.worker["pid"] for t in trials}
    assert pids == {w.pid for w in workers}  # each machine's worker took two
    # and any other process sees the same study by its id
    code = ("import json; from mnist.engine.study import open_study; "
            f"s = open_study({study.id!r}, {pg_url!r}); "
            "print(json.dumps([[t.status, len(t.records)] for t in s.trials()]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True)
    assert json.loads(out.stdout) == [[t.status, len(t.records)] for t in trials]
    assert [s.id for s in list_studies(pg_url, owner="class")] == [study.id]
    assert list_studies(pg_url, owner="someone else") == []


def test_a_killed_worker_is_failed_by_its_heartbeat_and_the_study_goes_on(pg_url):
    study = create_study({"lr": [0.05, 0.1]}, base=TINY.replace(subset=6000, epochs=30),
                         storage=pg_url)
    victim = start_worker(pg_url, study.id)
    running = wait_for(lambda: [t for t in study.trials() if t.status == "running" and
                                t.records], timeout=120)
    # pretend it runs on another machine: the pid check cannot tell, only the heartbeat can
    store = open_storage(pg_url).optuna
    tid = study.optuna.get_trials(deepcopy=False)[running[0].number]._trial_id
    store.set_trial_user_attr(tid, "worker", dict(running[0].worker, host="elsewhere"))
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    dead = wait_for(lambda: study.trial(running[0].number).status == "failed"
                    and study.trial(running[0].number), timeout=15)
    assert "heartbeat" in dead.message
    study.stop()  # the other run need not train 30 epochs: stop it at once
    study.resume()
    rescuer = start_worker(pg_url, study.id, "--trials", "1")
    wait_for(lambda: study.trial(1 - running[0].number).status == "running", timeout=120)
    study.stop_trial(1 - running[0].number)
    out, err = rescuer.communicate(timeout=120)
    assert rescuer.returncode == 0, err
    assert study.trial(1 - running[0].number).status == "stopped"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once closed


@pytest.mark.parametrize("url, words", [
    (f"postgresql://me:hunter2@127.0.0.1:{_closed_port()}/db", "cannot reach the database"),
    ("postgresql://me:hunter2@127.0.0.1:1/db?sslmode=bogus", "cannot reach the database"),
    ("nosuchdialect://me:hunter2@host/db", "not a storage URL"),
])
def test_unusable_databases_are_one_line_errors_without_the_password(url, words):
    with pytest.raises(EngineError, match=words) as err:
        open_storage(url)
    assert "hunter2" not in str(err.value) and "\n" not in str(err.value)
    assert "me:***@" in str(err.value)


def test_unusable_journals_and_unknown_ids_are_one_line_errors(tmp_path, pg_url):
    with pytest.raises(EngineError, match="is a folder"):
        open_storage(tmp_path)
    with pytest.raises(EngineError, match="does not exist"):
        open_storage(tmp_path / "nowhere" / "s.journal")
    junk = tmp_path / "junk.journal"
    junk.write_text("this is not a journal\n")
    with pytest.raises(EngineError, match="not an Optuna journal"):
        open_storage(junk)
    for storage in (pg_url, str(tmp_path / "fresh.journal")):
        with pytest.raises(EngineError, match="no study named 'abc'"):
            open_study("abc", storage)


def test_the_cli_says_it_in_one_line(tmp_path):
    url = f"postgresql://me:hunter2@127.0.0.1:{_closed_port()}/db"
    for args in (["studies", "--storage", url], ["worker", "--storage", url, "--study", "x"],
                 ["worker", "--storage", str(tmp_path / "s.journal"), "--study", "x"]):
        p = subprocess.run([sys.executable, "-m", "mnist", *args], cwd=ROOT, capture_output=True,
                           text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
        assert p.returncode == 1
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), p.stderr
        assert "Traceback" not in p.stderr and "hunter2" not in p.stderr
