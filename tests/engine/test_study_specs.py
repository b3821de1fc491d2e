"""A layer spec (`layers`) as a categorical string choice through the engine's samplers: grid,
random and TPE carry it to the trial's config, and the runs stay paired."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution

from engine_helpers import TINY
from mnist.engine.study import create_study
from mnist.engine.trial import work
from mnist.search.space import Choice

SPECS = ("16", "conv2k3-pool-8")


@pytest.mark.parametrize("sampler, space", [
    ("grid", {"layers": list(SPECS)}),
    ("random", {"layers": Choice(SPECS)}),
    ("tpe", {"layers": Choice(SPECS)}),
])
def test_a_layer_spec_travels_as_a_string_choice(journal, sampler, space):
    trials = None if sampler == "grid" else 4
    study = create_study(space, base=TINY.replace(epochs=1), sampler=sampler, trials=trials,
                         storage=journal)
    assert study.distributions["layers"] == CategoricalDistribution(list(SPECS))
    assert work(study.id, journal) == (2 if sampler == "grid" else 4)
    runs = study.trials()
    assert all(t.status == "complete" for t in runs)
    for t in runs:
        assert t.values["layers"] in SPECS and t.label == f"layers={t.values['layers']}"
        assert t.config.spec == t.values["layers"]
        assert t.config.kind == ("mlp" if t.values["layers"] == "16" else "cnn")
        assert t.config.seed == TINY.seed  # paired: same seed, same batch order
        assert study.load_model(t.number).kind == t.config.kind
    if sampler == "grid":
        assert [t.values["layers"] for t in runs] == list(SPECS)
