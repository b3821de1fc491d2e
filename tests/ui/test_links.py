"""ui.links: a TrainConfig goes into query parameters and comes back the same; a link with bad,
stale or unknown parameters gives a valid config (defaults where it could not be used) and
notes naming what was left out, never an exception."""

import dataclasses

import pytest

from mnist.training.config import TrainConfig
from mnist.training.presets import PRESETS
from ui import links


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips(name):
    cfg = PRESETS[name][0]
    params = links.to_query(cfg)
    assert all(isinstance(v, str) for v in params.values())
    back, notes = links.from_query(params)
    assert back == cfg and notes == []


def test_only_what_differs_from_the_defaults_is_written_as_readable_text():
    cfg = TrainConfig(hidden=(128, 64, 32), optimizer="sgd", lr=0.1, batch_size=None,
                      subset=5000, augment=True, patience=3)
    assert links.to_query(cfg) == {"hidden": "128-64-32", "optimizer": "sgd", "lr": "0.1",
                                   "batch_size": "none", "subset": "5000",
                                   "patience": "3", "augment": "true"}
    assert links.to_query(TrainConfig()) == {}
    assert links.to_query(TrainConfig(hidden=())) == {"hidden": "none"}
    assert links.from_query({"hidden": "none"})[0].hidden == ()
    odd = TrainConfig(lr=0.123456789012, subset=0.25, seed=2**32 - 1)
    assert links.from_query(links.to_query(odd))[0] == odd  # floats exactly, int vs fraction
    assert links.to_query(cfg, prefix="sr.")["sr.lr"] == "0.1"
    assert links.from_query(links.to_query(cfg, prefix="sr."), prefix="sr.")[0] == cfg


def test_bad_values_fall_back_to_the_defaults_with_a_note():
    cfg, notes = links.from_query({"lr": "fast", "optimizer": "sgd", "epochs": "2.5",
                                   "hidden": "12, x"})
    assert cfg == TrainConfig(optimizer="sgd")
    assert len(notes) == 3 and "lr='fast' is not understood" in notes
    cfg, notes = links.from_query({"lr": "1000", "activation": "swish", "dropout": "0.2"})
    assert cfg == TrainConfig(dropout=0.2)
    assert notes == ["lr='1000' is not valid", "activation='swish' is not valid"]


def test_stale_and_unknown_parameters_are_named_and_ignored():
    cfg, notes = links.from_query({"learning_rate": "0.1", "embed": "true", "seed": "7"})
    assert cfg == TrainConfig(seed=7) and notes == ["learning_rate is not a setting here"]
    cfg, notes = links.from_query({"eps": "0.001", "seed": "7"},
                                  fields={"seed", "lr"})  # what this page can show
    assert cfg == TrainConfig(seed=7) and notes == ["eps is not a setting here"]
    cfg, notes = links.from_query({"seed": ["1", "5"]})  # a repeated parameter: the last
    assert cfg.seed == 5 and notes == []


def test_values_that_only_go_together_are_kept_together():
    cfg, notes = links.from_query({"epochs": "10", "warmup_epochs": "8.0"})
    assert (cfg.epochs, cfg.warmup_epochs, notes) == (10, 8.0, [])
    cfg, notes = links.from_query({"warmup_epochs": "8.0"})  # more warm-up than epochs
    assert cfg == TrainConfig() and notes == ["warmup_epochs='8.0' is not valid"]
    cfg, notes = links.from_query({"lr": "0.01", "min_lr": "0.1", "schedule": "cosine"})
    assert cfg.lr == 0.01 and cfg.min_lr == 0.0 and len(notes) == 1


def test_whatever_the_input_a_valid_config_comes_back():
    weird = [{"lr": ""}, {"hidden": "-" * 30}, {"subset": "none"}, {"subset": "1e9"},
             {"batch_size": "-4"}, {"seed": "99999999999999999999"}, {"dtype": "\x00"},
             {"lr": "nan"}, {"augment": "maybe"}, {"x" * 500: "y" * 5000}]
    for params in weird:
        cfg, notes = links.from_query(params)
        assert isinstance(cfg, TrainConfig)
        assert all(len(n) < 80 for n in notes)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert links.has_setup({"lr": "0.1"}) and not links.has_setup({"embed": "true"})
    assert fields >= {"hidden", "lr", "subset"}


def test_share_url_replaces_the_old_query():
    assert (links.share_url("http://h:1/train?lr=1#x", {"lr": "0.1", "hidden": "128-64"})
            == "http://h:1/train?lr=0.1&hidden=128-64")
    assert links.share_url("http://h:1/train", {}) == "http://h:1/train"
    assert links.note_line(["a", "b"]).endswith(": a; b.")
