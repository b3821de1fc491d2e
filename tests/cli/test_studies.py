"""`python -m mnist search` on the engine, `worker` and `studies`."""

from __future__ import annotations

import csv
import os
import json

from mnist.cli.main import main
from mnist.engine.study import create_study, open_study
from mnist.training.config import TrainConfig

FLAGS = ["--set", "optimizer=sgd", "--set", "hidden=16", "--epochs", "1", "--subset", "400",
         "--json", "--quiet"]


def _lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]


def test_a_search_is_a_study_whose_id_is_in_every_json_line(tmp_path, capsys):
    journal = str(tmp_path / "s.journal")
    out = tmp_path / "r.csv"
    assert main(["search", "--vary", "lr=0.01:1", "--sampler", "tpe", "--trials", "3",
                 "--pruner", "halving", "--storage", journal, "--jobs", "0",
                 "--out", str(out), *FLAGS]) == 0
    lines = _lines(capsys)
    final, records = lines[-1], lines[:-1]
    sid = final["study_id"]
    assert records and all(r["study_id"] == sid and r["event"] == "record" for r in records)
    assert len(final["results"]) == 3 and final["varied"] == ["lr"]
    study = open_study(sid, journal)
    assert study.sampler == "tpe" and study.pruner == "halving" and study.owner == "cli"
    assert [float(r["lr"]) for r in csv.DictReader(out.open())] == \
        [t.values["lr"] for t in study.trials()]
    # --study adds runs to it; the ids of the lines stay the study's
    assert main(["search", "--study", sid, "--trials", "2", "--storage", journal,
                 "--jobs", "0", "--json", "--quiet"]) == 0
    final = _lines(capsys)[-1]
    assert final["study_id"] == sid and len(final["results"]) == 5
    assert main(["studies", "--storage", journal, "--json"]) == 0
    (listed,) = _lines(capsys)
    assert listed["study_id"] == sid and listed["trials"] == 5
    assert listed["best_value"] == max(r["val_acc"] for r in final["results"]
                                       if r["status"] == "done")


def test_random_is_a_synonym_and_workers_run_the_runs_in_processes(tmp_path, capsys):
    journal = str(tmp_path / "s.journal")
    assert main(["search", "--random", "2", "--vary", "lr=0.01:1", "--storage", journal,
                 "--workers", "2", *FLAGS]) == 0
    final = _lines(capsys)[-1]
    trials = open_study(final["study_id"], journal).trials()
    assert open_study(final["study_id"], journal).sampler == "random"
    assert [t.status for t in trials] == ["complete", "complete"]
    assert all(t.worker["pid"] != os.getpid() for t in trials)


def test_a_worker_runs_what_is_waiting(tmp_path, capsys):
    journal = str(tmp_path / "s.journal")
    base = TrainConfig(hidden=(16,), epochs=1, subset=300, optimizer="sgd")
    study = create_study({"lr": [0.05, 0.1, 0.2]}, base=base, storage=journal)
    assert main(["worker", "--storage", journal, "--study", study.id, "--trials", "2",
                 "--quiet"]) == 0
    assert "ran 2 runs" in capsys.readouterr().out
    assert [t.status for t in study.trials()] == ["complete", "complete", "waiting"]
    assert main(["worker", "--storage", journal, "--study", "no-such-id"]) == 1
    assert "no study named 'no-such-id'" in capsys.readouterr().err
    assert main(["search", "--vary", "lr=0.1:1", "--sampler", "random", "--storage",
                 journal]) == 1
    assert "needs --trials" in capsys.readouterr().err
