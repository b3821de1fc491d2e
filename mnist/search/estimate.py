"""How long a search will take: a short timed run gives one worker's speed, and the runs
are laid out longest-first on the workers.
"""

from __future__ import annotations

import time

import numpy as np

from mnist.data.dataset import Dataset
from mnist.training.config import TrainConfig
from mnist.training.loop import train
from mnist.training.threads import blas_threads


def measure_speed(config: TrainConfig, train_ds: Dataset, n: int | None = None) -> float:
    """Samples per second of one worker (one BLAS thread) training `config`'s network: a short
    timed run on `n` digits (default: fewer for bigger networks, so it stays a fraction of a
    second)."""
    if n is None:
        n = int(np.clip(2e8 / config.n_params, 200, 1000))
    # two epochs, timed on the second: the first pays for allocations and cold caches
    cfg = config.replace(epochs=2, subset=min(n, len(train_ds)), val_fraction=0.0,
                         patience=None, report_every=None, schedule="constant",
                         warmup_epochs=0.0, min_lr=0.0)
    with blas_threads(1):
        t0 = time.perf_counter()
        recs = list(train(cfg, train_ds))
        dt = time.perf_counter() - t0
    rate = recs[-1].get("samples_per_s") if recs else None
    return float(rate) if rate else 2 * cfg.subset / max(dt, 1e-9)


def run_seconds(config: TrainConfig, n_train: int, samples_per_s: float) -> float:
    """Estimated seconds of one run: its epochs of training plus a validation pass per epoch
    (a forward pass, about a third of a training step)."""
    n = len_after_subset(config, n_train)
    n_val = int(round(n * config.val_fraction))
    per_epoch = (n - n_val) / samples_per_s + n_val / (3 * samples_per_s)
    return config.epochs * per_epoch


def len_after_subset(config: TrainConfig, n_train: int) -> int:
    s = config.subset
    if s is None:
        return n_train
    return min(int(s), n_train) if isinstance(s, int) else int(round(s * n_train))


def estimate_seconds(configs: list[TrainConfig], n_train: int, samples_per_s: float | dict,
                     jobs: int = 1) -> float:
    """Wall time of a search: runs placed longest-first on the least loaded of `jobs` workers.
    `samples_per_s` is one number, or a dict keyed by `speed_key(config)`."""
    def rate(c):
        return samples_per_s[speed_key(c)] if isinstance(samples_per_s, dict) else samples_per_s
    times = sorted((run_seconds(c, n_train, rate(c)) for c in configs), reverse=True)
    load = [0.0] * max(1, min(jobs, len(times) or 1))
    for t in times:
        load[load.index(min(load))] += t
    return max(load) + 0.3  # + starting the worker processes


def speed_key(config: TrainConfig) -> tuple:
    """What the training speed depends on (for caching measured speeds)."""
    return (config.hidden, config.layers, config.batch_size, config.optimizer, config.dtype,
            config.dropout)
