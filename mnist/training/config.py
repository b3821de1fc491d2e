"""TrainConfig: everything that defines a training run, as plain validated values.

A frozen dataclass of names and numbers: it validates itself on creation (ConfigError names the
field and the bad value), round-trips through JSON, and `cfg.replace(lr=0.1)` makes a variant.
So a run can be saved next to its model, shared, and searched over.

The network is `hidden` (the MLP's hidden sizes) unless `layers` holds a layer spec with conv
or pool pieces (mnist/nn/spec.py), e.g. "conv16k5-pool-conv32k5-pool-128"; then `hidden`
mirrors the spec's Dense sizes. A spec of Dense sizes alone is stored as `hidden` (layers
""), so one MLP has one config. `cfg.spec` is the network's spec either way.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass

from mnist.nn.activations import ACTIVATIONS
from mnist.nn.layers import INITS
from mnist.nn.losses import LOSSES
from mnist.nn.optim import OPTIMIZERS, SCHEDULES
from mnist.nn.spec import IMAGE, N_CLASSES, canonical, check_limits, dense_units, is_dense
from mnist.errors import ConfigError  # noqa: F401  (re-exported)

DTYPE_NAMES = ("float32", "float64")
MAX_HIDDEN = 4096
MAX_LAYERS = 10
MAX_EPOCHS = 1000
MAX_BATCH = 100_000


def parse_hidden(text: str) -> tuple:
    """Hidden layer sizes as people type them: '128, 64', '128 64', '128-64', '128x64' ->
    (128, 64); '', 'none' or '-' -> () (no hidden layer). ConfigError names a bad piece."""
    text = text.strip().lower()
    if text in ("", "none", "-"):
        return ()
    sizes = []
    text = re.sub(r"(?<=\d)\s*[x-]\s*(?=\d)", ",", text)  # 128x64, 128-64
    for piece in re.split(r"[,;\s]+", text):
        if not piece:
            continue
        if not piece.isdigit():
            raise ConfigError(f"hidden layers: {piece!r} is not a whole number; write sizes "
                              "like '128, 64'")
        sizes.append(int(piece))
    return tuple(sizes)


@dataclass(frozen=True)
class TrainConfig:
    # architecture
    hidden: tuple = (128, 64)
    layers: str = ""  # a layer spec with conv/pool pieces; "" (or None): the MLP of hidden
    activation: str = "relu"
    init: str = "he"
    loss: str = "cross_entropy"
    dropout: float = 0.0
    dtype: str = "float32"
    # optimizer
    optimizer: str = "adam"  # sgd | momentum | nesterov | rmsprop | adam
    lr: float = 1e-3
    momentum: float = 0.9  # momentum, nesterov
    beta1: float = 0.9  # adam
    beta2: float = 0.999  # adam
    rho: float = 0.9  # rmsprop decay of the squared-gradient average
    eps: float = 1e-8  # rmsprop, adam
    weight_decay: float = 0.0  # L2: adds wd * W to dW (not to biases)
    # schedule
    batch_size: int | None = 128  # 0 or None: full batch (gradient descent)
    epochs: int = 5
    schedule: str = "constant"  # constant | step | cosine
    warmup_epochs: float = 0.0
    step_size: int = 10  # step schedule: epochs between decays
    gamma: float = 0.1  # step schedule: decay factor
    min_lr: float = 0.0  # cosine schedule: final learning rate
    # data and run
    val_fraction: float = 0.1  # 0: no validation split
    subset: int | float | None = None  # train on n digits (int) or a fraction (float)
    seed: int = 0
    patience: int | None = None  # early stopping on validation loss
    augment: bool = False
    report_every: int | None = None  # also yield a record every N batches

    # ------------------------------------------------------------------ validation
    def __post_init__(self):
        hidden = self.hidden
        if isinstance(hidden, (int, float)) and not isinstance(hidden, bool):
            hidden = (hidden,)
        if not isinstance(hidden, (tuple, list)):
            raise ConfigError(f"hidden must be a list of layer sizes, got {hidden!r}")
        hidden = tuple(hidden)
        if len(hidden) > MAX_LAYERS:
            raise ConfigError(f"hidden: at most {MAX_LAYERS} hidden layers, got {len(hidden)}: "
                              f"{self.hidden!r}")
        for h in hidden:
            if not _is_int(h) or not 1 <= h <= MAX_HIDDEN:
                raise ConfigError(f"hidden: each size must be an integer in 1..{MAX_HIDDEN}, "
                                  f"got {h!r} in {self.hidden!r}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in hidden))
        if self.layers is None:
            object.__setattr__(self, "layers", "")
        if not isinstance(self.layers, str):
            raise ConfigError("layers must be a layer spec like 'conv16k5-pool-128', got "
                              f"{self.layers!r}")
        if self.layers.strip():
            check_limits(self.layers)  # ConfigError "layers: ..." naming the piece
            spec = canonical(self.layers)
            object.__setattr__(self, "hidden", dense_units(spec))
            object.__setattr__(self, "layers", "" if is_dense(spec) else spec)

        _choice("activation", self.activation, ACTIVATIONS)
        _choice("init", self.init, INITS)
        _choice("loss", self.loss, LOSSES)
        _choice("dtype", self.dtype, DTYPE_NAMES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)

        _num("dropout", self.dropout, 0.0, 0.95)
        _num("lr", self.lr, 0.0, 100.0, low_open=True)
        _num("momentum", self.momentum, 0.0, 1.0, high_open=True)
        _num("beta1", self.beta1, 0.0, 1.0, high_open=True)
        _num("beta2", self.beta2, 0.0, 1.0, high_open=True)
        _num("rho", self.rho, 0.0, 1.0, high_open=True)
        _num("eps", self.eps, 0.0, 1.0, low_open=True)
        _num("weight_decay", self.weight_decay, 0.0, 10.0)
        _num("gamma", self.gamma, 0.0, 1.0, low_open=True)
        _num("min_lr", self.min_lr, 0.0, self.lr)
        _num("val_fraction", self.val_fraction, 0.0, 0.5)

        if self.batch_size is not None:
            _int("batch_size", self.batch_size, 0, MAX_BATCH)
        _int("epochs", self.epochs, 1, MAX_EPOCHS)
        _num("warmup_epochs", self.warmup_epochs, 0.0, float(self.epochs))
        _int("step_size", self.step_size, 1, MAX_EPOCHS)
        _int("seed", self.seed, 0, 2**32 - 1)
        if self.patience is not None:
            _int("patience", self.patience, 1, MAX_EPOCHS)
        if self.report_every is not None:
            _int("report_every", self.report_every, 1, 10_000_000)
        if not isinstance(self.augment, bool):
            raise ConfigError(f"augment must be true or false, got {self.augment!r}")
        if self.subset is not None:
            s = self.subset
            if _is_int(s):
                _int("subset", s, 10, 10_000_000)
            elif isinstance(s, float):
                _num("subset", s, 0.0, 1.0, low_open=True)
            else:
                raise ConfigError(f"subset must be a count or a fraction, got {s!r}")

    # ------------------------------------------------------------------ helpers
    @property
    def sizes(self) -> tuple:
        """(784, *hidden, 10): the MLP's layer sizes (for a conv spec, only its Dense part)."""
        return (784, *self.hidden, 10)

    @property
    def spec(self) -> str:
        """The network as a layer spec: `layers`, or the hidden sizes ("128-64"; "" for none)."""
        return self.layers or "-".join(map(str, self.hidden))

    @property
    def kind(self) -> str:
        """"mlp" or "cnn", as the built model's `kind`."""
        return "cnn" if self.layers else "mlp"

    def layer_shapes(self) -> list:
        """[(name, output shape, parameters), ...] input to output, e.g. ("conv16k5",
        (16, 28, 28), 416), ..., ("flatten", (784,), 0), ("128", (128,), 100480), ("output",
        (10,), 1290)): `mnist.nn.spec.layer_shapes` of `spec`."""
        return check_limits(self.spec, IMAGE, N_CLASSES)

    @property
    def n_params(self) -> int:
        """Weights and biases of the network this config builds (as `model.n_params`)."""
        return sum(row.params for row in self.layer_shapes())

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed (validated again). A conv config's Dense sizes
        change through `layers`: `hidden` alone would be overwritten by the spec."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        if "hidden" in changes and "layers" not in changes and self.layers:
            raise ConfigError(f"hidden: this network is layers={self.layers!r}; change layers "
                              "(or set layers='' for the MLP of hidden)")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d) -> TrainConfig:
        if not isinstance(d, dict):
            raise ConfigError(f"a config must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(map(str, unknown))}")
        try:
            return cls(**d)
        except TypeError as e:  # pragma: no cover - all fields have defaults
            raise ConfigError(str(e)) from None

    @classmethod
    def from_json(cls, s: str | bytes) -> TrainConfig:
        try:
            d = json.loads(s)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"config is not valid JSON: {e}") from None
        return cls.from_dict(d)


def config_for_model(cfg: TrainConfig, model) -> TrainConfig:
    """`cfg` with the architecture fields replaced by `model`'s own (an MLP or a conv net; for
    resumed training, where train() keeps the model's architecture whatever the config says)."""
    if getattr(model, "kind", None) not in ("mlp", "cnn"):
        raise ConfigError(f"a {type(model).__name__} has no training config; train a network")
    return cfg.replace(hidden=dense_units(model.spec), layers=model.spec,
                       activation=model.activation, init=model.init, loss=model.loss,
                       dropout=model.dropout, dtype=model.dtype.name)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) or (
        hasattr(v, "dtype") and getattr(v, "dtype").kind in "iu")


def _choice(name, value, known):
    if not isinstance(value, str) or value not in known:
        raise ConfigError(f"{name} must be one of {', '.join(known)}; got {value!r}")


def _int(name, value, lo, hi):
    if not _is_int(value) or not lo <= value <= hi:
        raise ConfigError(f"{name} must be an integer in {lo}..{hi}, got {value!r}")


def _num(name, value, lo, hi, low_open=False, high_open=False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v > lo if low_open else v >= lo) and (
            v < hi if high_open else v <= hi)
    if not ok:
        interval = f"{'(' if low_open else '['}{lo:g}, {hi:g}{')' if high_open else ']'}"
        raise ConfigError(f"{name} must be a number in {interval}, got {value!r}")
