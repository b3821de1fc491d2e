"""The learning-rate range test (Leslie Smith, 2015): a good learning-rate range in seconds.

One short run from the config's initial weights in which the learning rate grows exponentially,
batch by batch, from `lr_min` (~1e-5, too small to do anything) to `lr_max` (~10, far too big).
The loss (smoothed, as single batches are noisy) first stays flat, then falls, then explodes:

    lr too small -> flat | useful -> falling | too big -> blows up

The useful range runs from where the loss falls fastest (the steepest descent of the smoothed
loss against log lr) up to about a tenth of the lr where it is lowest (beyond the minimum the
steps already overshoot). That range is a starting point for a search, not the answer.

    result = lr_range_test(cfg, train_ds)
    result.suggested  # (lo, hi), e.g. (0.02, 0.3) for SGD on the tutorial's network
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from mnist.training.config import ConfigError, TrainConfig
from mnist.data.dataset import Dataset
from mnist.errors import DatasetError
from mnist.training.threads import blas_threads

DEFAULT_STEPS = 200
MAX_STEPS = 5000
SMOOTHING = 0.9  # exponential moving average of the loss: a weight of ~10 batches
EXPLODE_FACTOR = 4.0  # stop once the smoothed loss exceeds this times its minimum (or the start)


@dataclass
class LRFinderResult:
    lrs: list  # the learning rate used at each batch
    losses: list  # raw batch losses
    smoothed: list  # bias-corrected exponential moving average of the losses
    steepest_lr: float | None  # where the smoothed loss falls fastest (per log lr)
    min_lr: float | None  # where the smoothed loss is lowest
    suggested: tuple | None  # (lo, hi): a learning-rate range to search
    stopped_early: bool  # the loss exploded before lr_max
    seconds: float
    config: dict = field(default_factory=dict)
    message: str = ""

    def to_dict(self) -> dict:
        return dict(lrs=self.lrs, losses=self.losses, smoothed=self.smoothed,
                    steepest_lr=self.steepest_lr, min_lr=self.min_lr,
                    suggested=list(self.suggested) if self.suggested else None,
                    stopped_early=self.stopped_early, seconds=self.seconds,
                    config=self.config, message=self.message)


def check_inputs(config: TrainConfig, train: Dataset | None, lr_min: float = 1e-5,
                 lr_max: float = 10.0, steps: int = DEFAULT_STEPS,
                 smoothing: float = SMOOTHING, *, remote: bool = False) -> None:
    """What lr_range_test refuses (ConfigError / DatasetError): by the test itself, and by
    whoever queues it for a worker (mnist.engine.job). `remote`: the worker reads the data
    itself, so `train` may be None (then it is not checked here)."""
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not (remote and train is None) and (not isinstance(train, Dataset)
                                           or not train.has_labels):
        raise DatasetError("the range test needs a labelled training Dataset")
    if not (0 < lr_min < lr_max) or not math.isfinite(lr_max):
        raise ConfigError(f"need 0 < lr_min < lr_max, got {lr_min!r}, {lr_max!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 10 <= steps <= MAX_STEPS:
        raise ConfigError(f"steps must be an integer in 10..{MAX_STEPS}, got {steps!r}")
    if not 0 <= smoothing < 1:
        raise ConfigError(f"smoothing must be in [0, 1), got {smoothing!r}")


def lr_range_test(config: TrainConfig, train: Dataset, lr_min: float = 1e-5,
                  lr_max: float = 10.0, steps: int = DEFAULT_STEPS,
                  smoothing: float = SMOOTHING, explode: float = EXPLODE_FACTOR,
                  stop=None) -> LRFinderResult:
    """Run the range test with `config`'s network, optimizer, batch size and seed.

    The batches come from `default_rng([seed, 2])` (and cycle through the data if `steps`
    batches are more than an epoch). `stop()` (optional) is checked every batch."""
    from mnist.nn.optim import make_optimizer
    from mnist.training.loop import build_model
    from mnist.training.steps import make_stepper

    check_inputs(config, train, lr_min, lr_max, steps, smoothing)
    data = train.subset(config.subset, seed=config.seed) if config.subset else train
    model = build_model(config)
    rng = np.random.default_rng([config.seed, 2])
    model.set_rng(rng)
    B = min(config.batch_size or 128, len(data))  # full batch would take too long: use 128
    opt = make_optimizer(config.optimizer, model.params(), lr_min, momentum=config.momentum,
                         beta1=config.beta1, beta2=config.beta2, rho=config.rho, eps=config.eps)
    stepper = make_stepper(model, opt, data, B, config.weight_decay)  # as train() steps
    growth = (lr_max / lr_min) ** (1.0 / (steps - 1))

    with blas_threads(1):  # small matrices: one BLAS thread is faster and shares the machine
        return _run(config, opt, stepper, rng, lr_min, growth, steps, smoothing, explode, stop)


def _run(config, opt, stepper, rng, lr_min, growth, steps, smoothing, explode,
         stop) -> LRFinderResult:
    t0 = time.perf_counter()
    lrs, losses, smoothed = [], [], []
    avg, best, stopped_early, i = 0.0, math.inf, False, 0
    while i < steps:
        for x, y in stepper.epoch(rng):
            lr = lr_min * growth ** i
            opt.lr = lr
            loss, _ = stepper.step(x, y)  # no update when the loss is not finite
            if not math.isfinite(loss):
                stopped_early = True
                break
            avg = smoothing * avg + (1 - smoothing) * loss
            s = avg / (1 - smoothing ** (i + 1))  # bias correction: the average starts at 0
            lrs.append(float(lr))
            losses.append(float(loss))
            smoothed.append(float(s))
            best = min(best, s)
            i += 1
            # exploded, or (after having fallen) back above where it started: beyond this lr
            # the steps only undo the learning (e.g. every ReLU has died)
            if i > 10 and (s > explode * best or (best < 0.8 * smoothed[0] and
                                                  s > smoothed[0])):
                stopped_early = True
                break
            if i >= steps or (stop is not None and stop()):
                break
        if stopped_early or (stop is not None and stop()):
            break

    steepest, lowest, suggested, message = _suggest(lrs, smoothed)
    return LRFinderResult(lrs, losses, smoothed, steepest, lowest, suggested, stopped_early,
                          time.perf_counter() - t0, config.to_dict(), message)


def _suggest(lrs: list, smoothed: list):
    """(steepest lr, lr at the minimum, (lo, hi), message) from the smoothed curve."""
    n = len(smoothed)
    if n < 5:
        return None, None, None, "Too few batches to suggest a range"
    s = np.asarray(smoothed)
    log_lr = np.log10(np.asarray(lrs))
    i_min = int(np.argmin(s))
    lowest = float(lrs[i_min])
    # the steepest descent before the minimum, ignoring the first few (noisy) batches
    lo_i = min(max(n // 20, 3), max(i_min - 1, 0))
    if i_min - lo_i < 2:
        return None, lowest, None, ("The loss did not fall before it rose: start lower "
                                    "(smaller lr_min)")
    slope = np.gradient(s[lo_i:i_min + 1], log_lr[lo_i:i_min + 1])
    steepest = float(lrs[lo_i + int(np.argmin(slope))])
    hi = lowest / 10
    lo, hi = (steepest, hi) if steepest < hi else (hi, steepest)
    if hi / lo < 3:  # a point, not a range: widen it around its centre
        c = math.sqrt(lo * hi)
        lo, hi = c / 3, c * 3
    fall = float(s[0] - s[i_min])
    msg = (f"The loss fell fastest at lr {steepest:.2g} and was lowest at lr {lowest:.2g}; "
           f"try lr between {lo:.2g} and {hi:.2g}")
    if fall <= 0.05 * abs(s[0]):
        msg += " (the loss hardly fell: the suggestion is weak)"
    return steepest, lowest, (float(lo), float(hi)), msg
