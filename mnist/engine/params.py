"""A search space in Optuna's terms: distributions, parameter values, and back to a TrainConfig.

Optuna's parameters are plain numbers, strings, booleans or None; a config's layer sizes are a
tuple, so they travel as text ("128-64") and come back as a tuple. Everything here is plain
JSON too, because a study's space is stored with the study (its user attributes) and rebuilt
by every worker that joins it, on whatever machine:

    dists = distributions({"lr": Range(1e-4, 1.0), "hidden": [(64,), (128, 64)]})
    # {"lr": FloatDistribution(1e-4, 1.0, log=True),
    #  "hidden": CategoricalDistribution(["64", "128-64"])}
    values = suggest(trial, dists)        # {"lr": 0.0123, "hidden": (128, 64)}

Which ranges are log-uniform is the search's own rule (`Range.is_log`: lr, weight decay and the
other scale parameters), so a random search draws as it always has.
"""

from __future__ import annotations

from optuna.distributions import (BaseDistribution, CategoricalDistribution,
                                  FloatDistribution, IntDistribution, distribution_to_json,
                                  json_to_distribution)

from mnist.errors import ConfigError
from mnist.search.space import Choice, IntRange, Range


def encode(name: str, value):
    """A config value as an Optuna parameter value (layer sizes as "128-64")."""
    if name == "hidden":
        return "-".join(str(int(h)) for h in value)
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    return value


def decode(name: str, value):
    """An Optuna parameter value back to the config's kind."""
    if name == "hidden":
        if isinstance(value, (list, tuple)):
            return tuple(int(h) for h in value)
        return tuple(int(h) for h in str(value).split("-") if h)
    return value


def distributions(space: dict) -> dict[str, BaseDistribution]:
    """Optuna distributions for a search space: a list (or Choice) is categorical, a Range a
    float range (log-uniform for scale parameters), an IntRange an integer range."""
    if not isinstance(space, dict) or not space:
        raise ConfigError("the search space is empty: choose at least one field to vary")
    out = {}
    for name, spec in space.items():
        if isinstance(spec, (list, tuple, Choice)):
            options = list(spec.options if isinstance(spec, Choice) else spec)
            if not options:
                raise ConfigError(f"{name}: the list of values is empty")
            out[name] = CategoricalDistribution([encode(name, v) for v in options])
        elif isinstance(spec, Range):
            out[name] = FloatDistribution(float(spec.lo), float(spec.hi),
                                          log=spec.is_log(name))
        elif isinstance(spec, IntRange):
            out[name] = IntDistribution(int(spec.lo), int(spec.hi), log=bool(spec.log))
        else:
            raise ConfigError(f"{name}: expected a list, Range, IntRange or Choice, got {spec!r}")
    return out


def to_json(dists: dict[str, BaseDistribution]) -> dict[str, str]:
    return {name: distribution_to_json(d) for name, d in dists.items()}


def from_json(data: dict[str, str]) -> dict[str, BaseDistribution]:
    return {name: json_to_distribution(text) for name, text in data.items()}


def is_grid(dists: dict[str, BaseDistribution]) -> bool:
    return all(isinstance(d, CategoricalDistribution) for d in dists.values())


def suggest(trial, dists: dict[str, BaseDistribution]) -> dict:
    """Ask the trial for every parameter (its sampler draws it, or an enqueued value is used)
    and return the config values."""
    values = {}
    for name, d in dists.items():
        if isinstance(d, CategoricalDistribution):
            v = trial.suggest_categorical(name, list(d.choices))
        elif isinstance(d, IntDistribution):
            v = trial.suggest_int(name, d.low, d.high, log=d.log)
        else:
            v = trial.suggest_float(name, d.low, d.high, log=d.log)
        values[name] = decode(name, v)
    return values


def space_json(space: dict) -> dict:
    """The space as the user wrote it, for display (ranges as [lo, hi], lists as lists)."""
    out = {}
    for name, spec in space.items():
        if isinstance(spec, (list, tuple, Choice)):
            options = spec.options if isinstance(spec, Choice) else spec
            out[name] = [encode(name, v) for v in options]
        else:
            out[name] = {"lo": spec.lo, "hi": spec.hi,
                         "log": spec.is_log(name) if isinstance(spec, Range) else spec.log,
                         "int": isinstance(spec, IntRange)}
    return out
