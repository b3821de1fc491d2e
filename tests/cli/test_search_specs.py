"""`python -m mnist search --vary layers=...`: an MLP against a CNN from the command line."""

from __future__ import annotations

import csv
import json

import pytest

from mnist.cli.main import main
from mnist.engine.study import open_study


def test_vary_layers_compares_an_mlp_with_a_cnn_labelled_by_spec(tmp_path, capsys):
    journal, out = str(tmp_path / "s.journal"), tmp_path / "r.csv"
    assert main(["search", "--vary", "layers=16,conv2k3-pool-8", "--set", "optimizer=sgd",
                 "--epochs", "1", "--subset", "300", "--storage", journal, "--jobs", "0",
                 "--out", str(out), "--json", "--quiet"]) == 0
    final = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert final["varied"] == ["layers"]
    assert [r["layers"] for r in final["results"]] == ["16", "conv2k3-pool-8"]
    assert [r["layers"] for r in csv.DictReader(out.open())] == ["16", "conv2k3-pool-8"]
    mlp, cnn = open_study(final["study_id"], journal).trials()
    assert (mlp.label, cnn.label) == ("layers=16", "layers=conv2k3-pool-8")
    assert (mlp.config.kind, cnn.config.kind) == ("mlp", "cnn")
    assert mlp.config.seed == cnn.config.seed  # paired: the same seed, so the same batches
    assert mlp.status == cnn.status == "complete"


def test_vary_layers_names_a_bad_spec_and_help_says_how_to_write_specs(capsys):
    assert main(["search", "--vary", "layers=16,conv2k3-poo-8", "--epochs", "1"]) != 0
    assert "'conv2k3-poo-8' is not a layer spec" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    assert "layers=128-64,conv8k3-pool-64" in capsys.readouterr().out
