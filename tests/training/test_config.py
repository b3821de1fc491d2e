"""TrainConfig: validation names the field and the value; JSON round trip; replace."""

import json
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


# ------------------------------------------------------------------------------ layer specs
CNN = "conv16k5-pool-conv32k5-pool-128"


def test_a_layer_spec_describes_a_conv_net():
    cfg = TrainConfig(layers=CNN)
    assert cfg.layers == CNN and cfg.spec == CNN and cfg.kind == "cnn"
    assert cfg.hidden == (128,)  # mirrors the spec's Dense layers
    assert [tuple(r) for r in cfg.layer_shapes()] == [
        ("conv16k5", (16, 28, 28), 16 * 25 + 16), ("pool", (16, 14, 14), 0),
        ("conv32k5", (32, 14, 14), 32 * 16 * 25 + 32), ("pool", (32, 7, 7), 0),
        ("flatten", (1568,), 0), ("128", (128,), 1568 * 128 + 128),
        ("output", (10,), 128 * 10 + 10)]
    assert cfg.n_params == 416 + 12832 + 200832 + 1290
    assert TrainConfig(layers="Conv16K5 - pool2, conv32k5 pool 128").layers == CNN  # canonical


def test_a_spec_of_dense_sizes_is_the_mlp_config():
    cfg = TrainConfig(layers="128-64")
    assert cfg == TrainConfig() and cfg.layers == "" and cfg.spec == "128-64"
    assert cfg.kind == "mlp" and TrainConfig(hidden=()).spec == ""
    assert [r.name for r in TrainConfig().layer_shapes()] == ["128", "64", "output"]


def test_layers_json_round_trip_and_replace():
    cfg = TrainConfig(layers="conv8k3v-pool-64", dropout=0.2, lr=0.01)
    again = TrainConfig.from_json(cfg.to_json())
    assert again == cfg and again.layers == "conv8k3v-pool-64" and again.hidden == (64,)
    assert json.loads(TrainConfig().to_json())["layers"] == ""
    old = json.loads(TrainConfig().to_json())  # a config saved before layer specs
    del old["layers"]
    assert TrainConfig.from_dict(old) == TrainConfig()
    assert cfg.replace(lr=0.1).layers == cfg.layers
    assert cfg.replace(layers="conv4k3-pool").hidden == ()
    assert cfg.replace(layers="").spec == "64"  # back to the MLP of its Dense sizes
    assert cfg.replace(layers=None) == cfg.replace(layers="")
    assert TrainConfig(hidden=(32,), layers="none").hidden == ()  # a spec of no hidden layer
    with pytest.raises(ConfigError, match="hidden: this network is layers='conv8k3v-pool-64'"):
        cfg.replace(hidden=(32,))


@pytest.mark.parametrize("layers,match", [
    (5, "layers must be a layer spec"),
    ("conf16k5", "layers: 'conf16k5' is not a layer"),
    ("128-conv8k3", "layers: 'conv8k3' comes after a Dense layer"),
    ("conv8k29", "layers: conv8k29 has a 29x29 kernel but the map is 28x28"),
    ("pool-pool-pool-pool-pool", "layers: pool cannot pool a 1x1 map"),
    ("conv64k3-4096", r"layers: 205,566,602 parameters is more than 160,000,000 \(4096 alone "
                      r"has 205,524,992\)"),
    ("conv8k3-5000", "layers: 5000 has more than 4096 units"),
])
def test_bad_specs_name_the_piece(layers, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(layers=layers)


@pytest.mark.parametrize("layers", ["", CNN, "conv4k3v-pool-pool", "pool-16"])
def test_n_params_and_shapes_are_the_built_network_s(layers):
    from mnist.training.loop import build_model

    cfg = TrainConfig(layers=layers)
    model = build_model(cfg)
    assert cfg.n_params == model.n_params and model.kind == cfg.kind
    assert cfg.layer_shapes() == model.layer_shapes() and model.spec == cfg.spec


def test_config_for_model_takes_a_conv_net_s_architecture():
    from mnist.nn.model import MLP, build_network
    from mnist.training.config import config_for_model

    cnn = build_network("conv4k3-pool-32", activation="tanh", dropout=0.1, dtype="float64")
    cfg = config_for_model(TrainConfig(lr=0.05), cnn)
    assert cfg.layers == "conv4k3-pool-32" and cfg.activation == "tanh" and cfg.lr == 0.05
    assert cfg.dtype == "float64" and cfg.dropout == 0.1 and cfg.hidden == (32,)
    back = config_for_model(cfg, MLP((784, 16, 10)))
    assert back.layers == "" and back.hidden == (16,) and back.spec == "16"
