"""The one table of searchable fields (mnist.search.space.FIELDS) and reading values through it:
what the command line's --set/--vary and the Search page's form both use."""

import dataclasses

import pytest

from mnist import ConfigError, TrainConfig
from mnist.search.space import (FIELDS, INT_FIELDS, LOG_FIELDS, OFFERED, Choice, IntRange,
                                Range, can_range, grid, parse_value, parse_values, range_of,
                                sample, space_from_form)

KINDS = {"float", "int", "bool", "str", "hidden", "spec", "subset"}


def test_every_config_field_has_exactly_one_kind():
    assert set(FIELDS) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert {f.kind for f in FIELDS.values()} <= KINDS
    # the kind agrees with the field's default (what the CLI used to guess from)
    for f in dataclasses.fields(TrainConfig):
        kind = FIELDS[f.name].kind
        if kind in ("float", "bool", "str"):
            assert type(f.default).__name__ == kind, f.name
        if kind == "spec":
            assert f.default == "", f.name
    assert set(LOG_FIELDS) == {"lr", "weight_decay", "min_lr", "eps"}
    assert set(INT_FIELDS) == {"epochs", "batch_size", "seed", "patience", "step_size",
                               "report_every"}


def test_the_page_offers_eleven_fields_whose_starting_values_make_a_valid_search():
    assert OFFERED == ("lr", "batch_size", "hidden", "layers", "optimizer", "momentum",
                       "weight_decay", "dropout", "init", "activation", "seed")
    base = TrainConfig(epochs=1)
    for name in OFFERED:
        spec = FIELDS[name]
        assert spec.label and spec.grid
        values = parse_values(name, spec.grid)
        assert len(grid({name: values}, base)) == len(values) >= 2
        if spec.range is not None:
            assert can_range(name)
            assert len(sample({name: range_of(name, *spec.range)}, 4, base=base)) == 4
    assert [n for n in OFFERED if FIELDS[n].range is None] == ["hidden", "layers", "optimizer",
                                                               "init", "activation"]


@pytest.mark.parametrize("name, text, value", [
    ("hidden", "128x64", (128, 64)), ("hidden", "256-128", (256, 128)), ("hidden", "none", ()),
    ("batch_size", "0", None), ("batch_size", "full", None), ("batch_size", "64", 64),
    ("epochs", "3.0", 3), ("patience", "none", None),
    ("subset", "5000", 5000), ("subset", "0.1", 0.1), ("subset", "none", None),
    ("lr", "1e-3", 0.001), ("augment", "yes", True), ("augment", "0", False),
    ("optimizer", " adam ", "adam"),
    ("layers", " conv8k3-pool-64 ", "conv8k3-pool-64"), ("layers", "128-64", "128-64"),
    ("layers", "", ""),
])
def test_parse_value_reads_each_kind(name, text, value):
    got = parse_value(name, text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("name, text, words", [
    ("epochs", "2.5", ["epochs", "not a valid value", "'2.5'"]),
    ("lr", "banana", ["lr", "not a valid value"]),
    ("augment", "maybe", ["augment"]),
    ("layers", "conv8k3-poo-64", ["layers: 'conv8k3-poo-64' is not a layer spec",
                                  "'poo' is not a layer"]),
    ("layers", "64-conv8k3", ["'64-conv8k3'", "comes after a Dense layer"]),
    ("learning_rate", "0.1", ["unknown config field 'learning_rate'", "fields: hidden,"]),
])
def test_parse_value_names_the_field_and_the_text(name, text, words):
    with pytest.raises(ConfigError) as e:
        parse_value(name, text)
    for w in words:
        assert w in str(e.value)


def test_parse_values_and_ranges():
    assert parse_values("lr", "0.1, 0.01,, ") == [0.1, 0.01]
    assert parse_values("lr", " ") == []
    assert range_of("batch_size", 16, 256) == IntRange(16, 256)
    assert range_of("lr", 1e-4, 1.0) == Range(1e-4, 1.0)
    assert not can_range("hidden") and not can_range("optimizer") and can_range("subset")


def test_a_grid_over_layer_specs_pairs_an_mlp_with_a_cnn():
    specs = parse_values("layers", FIELDS["layers"].grid)
    assert specs == ["128-64", "conv8k3-pool-conv16k3-pool-64"]
    mlp, cnn = grid({"layers": specs, "lr": [0.1]}, TrainConfig(hidden=(32,), seed=3))
    assert (mlp.kind, mlp.hidden, mlp.spec) == ("mlp", (128, 64), "128-64")
    assert (cnn.kind, cnn.layers, cnn.hidden) == ("cnn", "conv8k3-pool-conv16k3-pool-64", (64,))
    assert mlp.seed == cnn.seed == 3  # paired: same seed, so the same batches
    a, b = sample({"layers": Choice(tuple(specs))}, 2, seed=1, paired=False)
    assert {a.seed, b.seed} == {0, 1}
    with pytest.raises(ConfigError, match="layer spec: give at least one value"):
        space_from_form(["layers"], False, {"layers": " , "}, {})
    with pytest.raises(ConfigError, match="the hidden layers or the layer spec, not both"):
        space_from_form(["hidden", "layers"], False, {"hidden": "32", "layers": "16"}, {})
    with pytest.raises(ConfigError, match="'conv0k3-64' is not a layer spec"):
        space_from_form(["layers"], True, {"layers": "128, conv0k3-64"}, {})


def test_the_form_makes_a_grid_or_a_random_space():
    values = {"lr": "0.1, 0.01", "hidden": "128x64, 32", "batch_size": "32, 128"}
    ranges = {"lr": (1e-3, 0.5), "batch_size": (16, 256)}
    assert space_from_form(["lr", "hidden"], False, values, ranges) == {
        "lr": [0.1, 0.01], "hidden": [(128, 64), (32,)]}
    space = space_from_form(["lr", "hidden", "batch_size"], True, values, ranges)
    assert space == {"lr": Range(1e-3, 0.5), "hidden": Choice(((128, 64), (32,))),
                     "batch_size": IntRange(16, 256)}


@pytest.mark.parametrize("fields, values, ranges, random, words", [
    ([], {}, {}, False, ["choose at least one setting"]),
    (["lr"], {"lr": " , "}, {}, False, ["learning rate: give at least one value"]),
    (["lr"], {"lr": "0.1, banana"}, {}, False, ["not a valid value"]),
    (["lr"], {}, {"lr": (0.9, 0.5)}, True, ["learning rate: the lower end 0.9 is above the "
                                           "upper end 0.5"]),
])
def test_the_form_says_what_is_wrong(fields, values, ranges, random, words):
    with pytest.raises(ConfigError) as e:
        space_from_form(fields, random, values, ranges)
    for w in words:
        assert w in str(e.value)
