"""The search space: which TrainConfig fields can vary, and the configs a grid or a draw makes.

    grid({"lr": [1e-4, 1e-3, 1e-2]}, base=TrainConfig(epochs=3))       # 3 configs, all seed 0
    sample({"lr": Range(1e-4, 1.0), "hidden": [(128, 64), (256, 128)]}, n=8, seed=0)

*Paired comparison.* Every config keeps the base seed (unless `paired=False`), and train() draws
the initial weights from `default_rng(seed)` and the minibatch order from `default_rng([seed, 1])`.
So runs that differ only in the learning rate start from the same weights and see the same
batches in the same order: a difference between their curves is the learning rate's doing.
Runs that differ in the layer spec (`layers`: an MLP against a CNN) cannot share weights (their
shapes differ), but each draws its weights from the same seed and sees the same batches.

`FIELDS` declares, once, what kind of value each TrainConfig field takes (how text is read,
whether a range is drawn on a log scale, integers or not) and which ones the app's Search page
offers; the command line (`--set`, `--vary`) and the page both read values through it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from itertools import product

import numpy as np

from mnist.errors import ConfigError
from mnist.nn.spec import check_limits
from mnist.training.config import TrainConfig

MAX_RUNS = 16  # runs per search: a search is a comparison, not a sweep of the universe


@dataclass(frozen=True)
class Field:
    """How a search reads and draws one TrainConfig field."""

    kind: str  # "float" | "int" | "bool" | "str" | "hidden" (layer sizes) | "spec" (a layer
    # spec, checked) | "subset" (n or share)
    log: bool = False  # a scale parameter: a range over it is drawn log-uniformly
    label: str = ""  # offered on the app's Search page under this name ("": command line only)
    grid: str = ""  # the page's starting values, as typed
    range: tuple | None = None  # the page's starting random range (None: listed values only)


FIELDS: dict[str, Field] = {
    # offered on the Search page, in this order
    "lr": Field("float", log=True, label="learning rate", grid="0.0001, 0.001, 0.01, 0.1",
                range=(1e-4, 1.0)),
    "batch_size": Field("int", label="batch size", grid="32, 128", range=(16, 256)),
    "hidden": Field("hidden", label="hidden layers", grid="128x64, 256x128"),
    # a layer spec (mnist.nn.spec): an MLP ("128-64") or a CNN; "" is the MLP of hidden
    "layers": Field("spec", label="layer spec", grid="128-64, conv8k3-pool-conv16k3-pool-64"),
    "optimizer": Field("str", label="optimizer", grid="sgd, momentum, adam"),
    "momentum": Field("float", label="momentum", grid="0.5, 0.9, 0.99", range=(0.5, 0.99)),
    "weight_decay": Field("float", log=True, label="weight decay", grid="0, 0.0001, 0.001",
                          range=(1e-6, 1e-2)),
    "dropout": Field("float", label="dropout", grid="0, 0.2, 0.5", range=(0.0, 0.5)),
    "init": Field("str", label="initialisation", grid="normal001, he"),
    "activation": Field("str", label="activation", grid="relu, tanh, sigmoid"),
    "seed": Field("int", label="seed (run-to-run luck)", grid="0, 1, 2, 3", range=(0, 1000)),
    # the rest: the command line can set or vary them too
    "loss": Field("str"),
    "dtype": Field("str"),
    "beta1": Field("float"),
    "beta2": Field("float"),
    "rho": Field("float"),
    "eps": Field("float", log=True),
    "epochs": Field("int"),
    "schedule": Field("str"),
    "warmup_epochs": Field("float"),
    "step_size": Field("int"),
    "gamma": Field("float"),
    "min_lr": Field("float", log=True),
    "val_fraction": Field("float"),
    "subset": Field("subset"),
    "patience": Field("int"),
    "augment": Field("bool"),
    "report_every": Field("int"),
}
OFFERED = tuple(name for name, f in FIELDS.items() if f.label)  # the Search page's choices
LOG_FIELDS = tuple(name for name, f in FIELDS.items() if f.log)  # sampled log-uniform
INT_FIELDS = tuple(name for name, f in FIELDS.items() if f.kind == "int")
_CONFIG_FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]


@dataclass(frozen=True)
class Range:
    """A continuous range [lo, hi] for random search. `log=None` means log-uniform for scale
    parameters (lr, weight_decay, ...) and uniform for the rest."""

    lo: float
    hi: float
    log: bool | None = None

    def __post_init__(self):
        lo, hi = float(self.lo), float(self.hi)
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            raise ConfigError(f"a range needs finite lo <= hi, got {self.lo!r}..{self.hi!r}")
        if self.log and lo <= 0:
            raise ConfigError(f"a log range needs lo > 0, got {self.lo!r}")

    def is_log(self, name: str) -> bool:
        return (name in LOG_FIELDS and self.lo > 0) if self.log is None else bool(self.log)

    def draw(self, rng: np.random.Generator, name: str = "", n: int = 1) -> np.ndarray:
        if self.is_log(name):
            return np.exp(rng.uniform(math.log(self.lo), math.log(self.hi), n))
        return rng.uniform(self.lo, self.hi, n)


@dataclass(frozen=True)
class IntRange:
    """Integers lo..hi inclusive (uniform, or log-uniform with `log=True`, e.g. layer sizes)."""

    lo: int
    hi: int
    log: bool = False

    def __post_init__(self):
        if int(self.lo) != self.lo or int(self.hi) != self.hi or self.lo > self.hi:
            raise ConfigError(f"an integer range needs integers lo <= hi, got "
                              f"{self.lo!r}..{self.hi!r}")
        if self.log and self.lo <= 0:
            raise ConfigError(f"a log range needs lo > 0, got {self.lo!r}")

    def draw(self, rng: np.random.Generator, name: str = "", n: int = 1) -> np.ndarray:
        if self.log:
            v = np.exp(rng.uniform(math.log(self.lo), math.log(self.hi + 1), n))
            return np.minimum(np.floor(v), self.hi).astype(np.int64)
        return rng.integers(self.lo, self.hi, n, endpoint=True)


@dataclass(frozen=True)
class Choice:
    """One of a few values, chosen uniformly (a plain list in a random search means this)."""

    options: tuple

    def __post_init__(self):
        object.__setattr__(self, "options", tuple(self.options))
        if not self.options:
            raise ConfigError("a choice needs at least one option")

    def draw(self, rng: np.random.Generator, name: str = "", n: int = 1) -> list:
        return [self.options[i] for i in rng.integers(0, len(self.options), n)]


Space = dict  # field name -> list of values (grid) | Range | IntRange | Choice


def field_of(name: str) -> Field:
    if name not in FIELDS:
        raise ConfigError(f"unknown config field {name!r} (fields: {', '.join(_CONFIG_FIELDS)})")
    return FIELDS[name]


def parse_value(name: str, text: str):
    """One value of a field from text: 128x64 for layers, numbers, true/false, names, a layer
    spec (checked: a bad one is named with the piece at fault). Raises ConfigError naming the
    field."""
    kind = field_of(name).kind
    t = text.strip()
    if kind == "spec":
        return _spec(name, t)
    try:
        if kind == "hidden":
            if t.lower() in ("", "none", "-"):
                return ()
            return tuple(int(h) for h in t.lower().replace("-", "x").split("x") if h)
        if kind == "int":
            if t.lower() in ("none", "full"):
                return None
            v = float(t)
            if not v.is_integer():
                raise ValueError
            v = int(v)
            return None if name == "batch_size" and v == 0 else v
        if kind == "subset":
            if t.lower() == "none":
                return None
            v = float(t)
            return int(v) if v > 1 else v
        if kind == "float":
            return float(t)
        if kind == "bool":
            if t.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return t.lower() in ("true", "1", "yes")
        return t
    except ValueError:
        raise ConfigError(f"{name}: not a valid value: {text!r}") from None


def _spec(name: str, text: str) -> str:
    """A layer spec as typed (so runs are labelled as the user wrote them), once checked."""
    if not text:
        return ""  # the MLP of the base's hidden sizes
    try:
        check_limits(text)
    except ConfigError as e:
        why = str(e).removeprefix("layers: ")
        raise ConfigError(f"{name}: {text!r} is not a layer spec: {why}") from None
    return text


def parse_values(name: str, text: str) -> list:
    """Comma-separated values of a field ("0.1, 0.01" -> [0.1, 0.01]); blanks are skipped.
    Commas separate the values, so a list of layer specs writes each spec's pieces with "-"
    ("128-64, conv8k3-pool-64")."""
    return [parse_value(name, v) for v in text.split(",") if v.strip()]


def can_range(name: str) -> bool:
    """Whether the field takes a range (numbers), not only a list of values."""
    return field_of(name).kind in ("float", "int", "subset")


def range_of(name: str, lo, hi) -> Range | IntRange:
    """A random-search range over the field: integers for integer fields."""
    return IntRange(lo, hi) if field_of(name).kind == "int" else Range(lo, hi)


def space_from_form(fields: list, random: bool, values: dict, ranges: dict) -> dict:
    """The Search page's form as a space: `values[f]` the typed values of a field (a grid, or
    the choices of a random search), `ranges[f]` its (lo, hi) for a random search over a field
    that has a range. ConfigError names the field by its label."""
    if not fields:
        raise ConfigError("choose at least one setting to vary")
    if "hidden" in fields and "layers" in fields:
        raise ConfigError("vary the hidden layers or the layer spec, not both: a spec sets the "
                          "hidden layers too (write MLPs as specs: 128-64)")
    space = {}
    for f in fields:
        spec = FIELDS[f]
        if not random or spec.range is None:
            vals = parse_values(f, values.get(f, ""))
            if not vals:
                raise ConfigError(f"{spec.label}: give at least one value")
            space[f] = Choice(tuple(vals)) if random else vals
        else:
            lo, hi = ranges[f]
            if lo > hi:
                raise ConfigError(f"{spec.label}: the lower end {lo:g} is above the upper end "
                                  f"{hi:g}")
            space[f] = range_of(f, lo, hi)
    return space


def _check_space(space: dict) -> None:
    if not isinstance(space, dict) or not space:
        raise ConfigError("the search space is empty: choose at least one field to vary")
    for name, spec in space.items():
        if name not in FIELDS:
            raise ConfigError(f"cannot vary {name!r}: not a TrainConfig field "
                              f"(fields: {', '.join(_CONFIG_FIELDS)})")
        if isinstance(spec, (list, tuple)) and len(spec) == 0:
            raise ConfigError(f"{name}: the list of values is empty")


def _plain(name: str, v):
    """numpy scalars -> Python values of the field's kind (configs stay JSON-able)."""
    if isinstance(v, np.generic):
        v = v.item()
    if name == "hidden":
        return tuple(int(h) for h in (v if isinstance(v, (list, tuple)) else (v,)))
    if name in INT_FIELDS and isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def make_config(base: TrainConfig, values: dict, i: int, paired: bool) -> TrainConfig:
    changes = {k: _plain(k, v) for k, v in values.items()}
    if not paired and "seed" not in changes:
        changes["seed"] = (base.seed + i) % 2**32
    try:
        return base.replace(**changes)
    except ConfigError as e:
        shown = ", ".join(f"{k}={format_value(v)}" for k, v in values.items())
        raise ConfigError(f"run {i + 1} ({shown}) is not a valid config: {e}") from None


def check_count(n: int) -> None:
    if n > MAX_RUNS:
        raise ConfigError(f"{n} runs is too many for one search: at most {MAX_RUNS}. Vary fewer "
                          "values, or use a random search with fewer trials")
    if n < 1:
        raise ConfigError("a search needs at least one run")


def grid(space: Space, base: TrainConfig | None = None, paired: bool = True) -> list[TrainConfig]:
    """Every combination of the listed values (the first field varies slowest).

    `paired=True` keeps the base seed for every run (same initial weights, same batch order);
    `paired=False` gives run i the seed `base.seed + i` (independent runs)."""
    base = base or TrainConfig()
    _check_space(space)
    for name, spec in space.items():
        if not isinstance(spec, (list, tuple, Choice)):
            raise ConfigError(f"{name}: a grid needs a list of values; ranges are for a random "
                              "search")
    names = list(space)
    lists = [list(s.options if isinstance(s, Choice) else s) for s in space.values()]
    check_count(math.prod(len(v) for v in lists))
    return [make_config(base, dict(zip(names, combo)), i, paired)
            for i, combo in enumerate(product(*lists))]


def sample(space: Space, n: int, seed: int = 0, base: TrainConfig | None = None,
           paired: bool = True) -> list[TrainConfig]:
    """`n` random configs: a Range is drawn uniformly (log-uniformly for lr, weight_decay and
    other scale parameters), an IntRange as integers, a list or Choice uniformly. `seed` seeds
    the draws (not the training: that is the base config's seed, see `paired`)."""
    base = base or TrainConfig()
    _check_space(space)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise ConfigError(f"the number of trials must be an integer, got {n!r}")
    check_count(int(n))
    rng = np.random.default_rng(seed)
    columns = {}
    for name, spec in space.items():
        if isinstance(spec, (list, tuple)):
            spec = Choice(tuple(spec))
        if not isinstance(spec, (Range, IntRange, Choice)):
            raise ConfigError(f"{name}: expected a list, Range, IntRange or Choice, got {spec!r}")
        columns[name] = list(spec.draw(rng, name, int(n)))
    return [make_config(base, {k: col[i] for k, col in columns.items()}, i, paired)
            for i in range(int(n))]


def count_runs(space: Space, random_trials: int | None = None) -> int:
    """How many runs a grid (or a random search of `random_trials`) over `space` makes."""
    if random_trials:
        return int(random_trials)
    return math.prod(len(s.options if isinstance(s, Choice) else s) for s in space.values())


def varied_fields(configs: list[TrainConfig]) -> list[str]:
    """The config fields whose values differ between runs, in field order. When the layer spec
    varies, `hidden` (which follows the spec's Dense sizes) is not listed on its own."""
    if not configs:
        return []
    dicts = [c.to_dict() for c in configs]
    varied = [k for k in dicts[0] if any(d[k] != dicts[0][k] for d in dicts[1:])]
    return [k for k in varied if not (k == "hidden" and "layers" in varied)]


def format_value(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (tuple, list)):
        return "-".join(str(x) for x in v)
    return str(v)


def run_label(values: dict, fallback: str) -> str:
    """How a run is named in tables and legends: the settings it was given ('lr=0.05, ...')."""
    return ", ".join(f"{k}={format_value(v)}" for k, v in values.items()) or fallback
