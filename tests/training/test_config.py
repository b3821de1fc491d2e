"""TrainConfig: validation names the field and the value; JSON round trip; replace."""

import math

import pytest

from mnist import ConfigError, TrainConfig


def test_defaults_match_the_documented_api():
    cfg = TrainConfig()
    assert cfg.hidden == (128, 64) and cfg.optimizer == "adam" and cfg.lr == 1e-3
    assert cfg.batch_size == 128 and cfg.sizes == (784, 128, 64, 10) and cfg.dtype == "float32"


def test_json_round_trip():
    cfg = TrainConfig(hidden=[32], activation="sigmoid", optimizer="nesterov", lr=0.05,
                      batch_size=None, subset=0.25, patience=3, schedule="cosine",
                      warmup_epochs=1.5, epochs=7, dtype="float64", augment=True)
    again = TrainConfig.from_json(cfg.to_json())
    assert again == cfg and again.hidden == (32,) and isinstance(again.hidden, tuple)
    assert TrainConfig.from_json(TrainConfig(subset=5000).to_json()).subset == 5000


def test_frozen_and_replace():
    cfg = TrainConfig()
    with pytest.raises(Exception):
        cfg.lr = 0.5
    assert cfg.replace(lr=0.5).lr == 0.5 and cfg.lr == 1e-3
    with pytest.raises(ConfigError, match="unknown config field"):
        cfg.replace(learning_rate=0.5)
    with pytest.raises(ConfigError, match="lr"):
        cfg.replace(lr=-1)


@pytest.mark.parametrize("field,value", [
    ("lr", math.nan), ("lr", 0), ("lr", -0.1), ("lr", 1e6), ("lr", math.inf), ("lr", "0.1"),
    ("epochs", 0), ("epochs", 10**6), ("epochs", 2.5), ("epochs", True),
    ("hidden", (0,)), ("hidden", (5000,)), ("hidden", (8,) * 11), ("hidden", "128"),
    ("hidden", (12.5,)),
    ("batch_size", -1), ("batch_size", 10**9),
    ("dropout", 1.0), ("dropout", -0.1), ("momentum", 1.0), ("beta2", 1.5), ("eps", 0),
    ("weight_decay", -1e-4), ("val_fraction", 0.9), ("seed", -1), ("patience", 0),
    ("activation", "swish"), ("init", "zeros"), ("loss", "hinge"), ("optimizer", "lbfgs"),
    ("schedule", "linear"), ("dtype", "float16"), ("subset", 0), ("subset", 1.5),
    ("subset", "all"), ("warmup_epochs", 100), ("augment", "yes"), ("report_every", 0),
])
def test_bad_values_name_the_field_and_the_value(field, value):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**{field: value})
    msg = str(err.value)
    assert msg.startswith(field) and repr(value)[:20] in msg


def test_patience_needs_validation():
    from mnist import train
    from mnist.data.bundled import load_mnist

    small = load_mnist()[0].take(range(100))
    cfg = TrainConfig(patience=2, val_fraction=0)  # fine on its own: validation= may come
    with pytest.raises(ConfigError, match="patience needs a validation set"):
        train(cfg, small)
    assert train(cfg, small, validation=small).validation is small


@pytest.mark.parametrize("text,match", [
    ('{"lr": 0.1, "colour": "red"}', "unknown config field.*colour"),
    ("[1, 2]", "must be a JSON object"),
    ("{not json", "not valid JSON"),
    ('{"lr": NaN}', "lr must be"),
])
def test_from_json_errors(text, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig.from_json(text)


def test_hidden_sizes_read_the_same_however_they_are_typed():
    """One parser for the Train page, the Search page and the CLI (the Search page once read
    '128 64' as a single layer of 12,864 units)."""
    from mnist.training.config import parse_hidden

    for text in ["128, 64", "128 64", "128-64", "128x64", " 128 ,64 ", "128;64"]:
        assert parse_hidden(text) == (128, 64), text
    for text in ["", "none", "-", "  "]:
        assert parse_hidden(text) == ()
    with pytest.raises(ConfigError, match="'sixty' is not a whole number"):
        parse_hidden("128, sixty")


def test_n_params_is_what_the_built_network_has():
    from mnist.training.loop import build_model

    for hidden in [(), (32,), (128, 64)]:
        cfg = TrainConfig(hidden=hidden)
        assert cfg.n_params == build_model(cfg).n_params
