"""Presets: every one is a valid config with a note and a scoring spec; data preparation;
the figures; a shortened run of a preset end to end."""

import json

import numpy as np
import pytest

from mnist import ConfigError, TrainConfig, train
from mnist.training import presets


def test_every_preset_is_complete_and_round_trips():
    assert set(presets.PRESETS) == set(presets.PRESET_EVAL)
    for name, (cfg, note) in presets.PRESETS.items():
        assert isinstance(cfg, TrainConfig) and len(note) > 40
        assert TrainConfig.from_json(cfg.to_json()) == cfg
    for name in ["default", "tutorial-32-gd", "tutorial-128-64-sgd", "tutorial-20-kaggle",
                 "tutorial-pure-python", "tutorial-128-64-sgd-lr0.01",
                 "tutorial-128-64-sgd-lr0.001", "tutorial-128-64-sgd-b128"]:
        assert name in presets.PRESETS


def test_tutorial_settings():
    gd = presets.PRESETS["tutorial-32-gd"][0]
    assert (gd.hidden, gd.init, gd.optimizer, gd.lr, gd.batch_size, gd.epochs, gd.val_fraction) \
        == ((32,), "uniform", "sgd", 0.1, None, 500, 0.0)
    sgd = presets.PRESETS["tutorial-128-64-sgd"][0]
    assert (sgd.hidden, sgd.init, sgd.batch_size, sgd.epochs, sgd.lr) == \
        ((128, 64), "normal001", 32, 10, 0.1)
    assert presets.PRESETS["tutorial-128-64-sgd-b128"][0].batch_size == 128
    pp = presets.PRESETS["tutorial-pure-python"][0]
    assert (pp.hidden, pp.init, pp.loss, pp.batch_size, pp.epochs, pp.subset) == \
        ((32,), "xavier", "mse", None, 300, 6000)


def test_the_quick_starter_is_a_preset_of_the_package():
    """The app's first preset, one registry for the app and the command line."""
    cfg, note, spec = presets.get("quick")
    assert cfg == TrainConfig(hidden=(32,), activation="relu", init="he", optimizer="adam",
                              lr=1e-3, batch_size=64, epochs=3, subset=5000, val_fraction=0.1,
                              seed=0)
    assert next(iter(presets.PRESETS)) == "quick"  # the Train page's starting preset
    assert spec.metric == "test_acc" and spec.expected is None and "5,000 digits" in note


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        presets.get("nope")


def test_kaggle_stand_in_split():
    cfg, tr, te = presets.prepare("tutorial-20-kaggle")
    assert len(tr) == 30_000 and len(te) == 12_000
    from mnist.data.bundled import load_mnist
    full = load_mnist()[0]
    assert np.array_equal(tr.images[0], full.images[0])
    assert np.array_equal(te.images[0], full.images[30_000])


def test_pure_python_data_sizes():
    cfg, tr, te = presets.prepare("tutorial-pure-python")
    assert len(te) == 1000 and cfg.subset == 6000


def test_shortened_preset_run_reports_its_figure():
    cfg, tr, te = presets.prepare("tutorial-pure-python")
    run = train(cfg.replace(epochs=5), tr)
    recs = list(run)
    assert len(run.train_set) == 6000 and recs[-1]["status"] == "done"
    fig = presets.figures("tutorial-pure-python", run.model, run.train_set, te)
    json.dumps(fig)
    assert fig["metric"] == "test_acc" and fig["value"] == fig["test_acc"]
    assert fig["n_test"] == 1000 and fig["expected"] == 0.899
    assert fig["difference_points"] == pytest.approx(100 * (fig["value"] - 0.899), abs=0.01)
