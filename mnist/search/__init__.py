"""Hyperparameter search: many training runs, side by side, on all the machine's cores.

    space = {"lr": [1e-4, 1e-3, 1e-2, 1e-1]}                # a list: grid over these values
    configs = grid(space, base=TrainConfig(epochs=3))       # 4 TrainConfigs, all seed 0
    search = Search(configs, train_ds, jobs=2)
    for ev in search:                                       # events while the runs train
        ...                                                 # ev.kind, ev.run_id, ev.record
    search.results; search.best                             # RunResult objects

    sample({"lr": Range(1e-4, 1.0), "hidden": [(128, 64), (256, 128)]}, n=8, seed=0)

Why it is built this way:

- *Paired comparison.* Every config keeps the base seed (unless `paired=False`), and train()
  draws the initial weights from `default_rng(seed)` and the minibatch order from
  `default_rng([seed, 1])`. So runs that differ only in the learning rate start from the same
  weights and see the same batches in the same order: a difference between their curves is the
  learning rate's doing, not luck.
- *Processes, not threads.* NumPy training holds the GIL between BLAS calls, so runs go to worker
  processes (fork: the dataset is shared copy-on-write, nothing is pickled to start a worker).
  Each worker limits BLAS to one thread, so `jobs` workers use `jobs` cores and do not fight.
- *Streaming.* Workers put every training record on one queue as it happens; iterating a Search
  yields them as events, so a page can draw live curves. A diverged run is a result with status
  "diverged", not a failure of the search.
- *Cancel.* One shared Event is the `stop` of every run (checked after every batch); the
  processes are then shut down, terminated if they do not exit promptly. Nothing is left behind.
- *Successive halving.* With `halving=True` the runs train rung by rung (e.g. to epoch 1, 2, 4)
  and after each rung only the better half go on. A worker keeps the runs it trains alive between
  rungs (a paused train() generator), so a promoted run continues, it does not start over.
- *Bounded.* At most MAX_RUNS runs and MAX_SEARCH_EPOCHS epochs per run; the final weights are
  kept for the best run only (or all, `keep="all"`), so memory stays at a few models.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from itertools import product
from typing import Iterator

import numpy as np

from mnist.training.config import ConfigError, TrainConfig
from mnist.data import Dataset, DatasetError

MAX_RUNS = 16  # runs per search: a search is a comparison, not a sweep of the universe
MAX_SEARCH_EPOCHS = 50  # epochs per run in a search
MAX_JOBS = 16
LOG_FIELDS = ("lr", "weight_decay", "min_lr", "eps")  # scale parameters: sampled log-uniform
INT_FIELDS = ("epochs", "batch_size", "seed", "patience", "step_size", "report_every")
STATUSES = ("pending", "running", "done", "diverged", "stopped", "early_stopped", "halved",
            "cancelled", "failed")
FINISHED = ("done", "diverged", "stopped", "early_stopped", "halved", "cancelled", "failed")


# --------------------------------------------------------------------------------------------
# The search space


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

_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _check_space(space: dict) -> None:
    if not isinstance(space, dict) or not space:
        raise ConfigError("the search space is empty: choose at least one field to vary")
    for name, spec in space.items():
        if name not in _FIELDS:
            raise ConfigError(f"cannot vary {name!r}: not a TrainConfig field "
                              f"(fields: {', '.join(_FIELDS)})")
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


def _make(base: TrainConfig, values: dict, i: int, paired: bool) -> TrainConfig:
    changes = {k: _plain(k, v) for k, v in values.items()}
    if not paired and "seed" not in changes:
        changes["seed"] = (base.seed + i) % 2**32
    try:
        return base.replace(**changes)
    except ConfigError as e:
        shown = ", ".join(f"{k}={format_value(v)}" for k, v in values.items())
        raise ConfigError(f"run {i + 1} ({shown}) is not a valid config: {e}") from None


def _check_count(n: int) -> None:
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
    _check_count(math.prod(len(v) for v in lists))
    return [_make(base, dict(zip(names, combo)), i, paired)
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
    _check_count(int(n))
    rng = np.random.default_rng(seed)
    columns = {}
    for name, spec in space.items():
        if isinstance(spec, (list, tuple)):
            spec = Choice(tuple(spec))
        if not isinstance(spec, (Range, IntRange, Choice)):
            raise ConfigError(f"{name}: expected a list, Range, IntRange or Choice, got {spec!r}")
        columns[name] = list(spec.draw(rng, name, int(n)))
    return [_make(base, {k: col[i] for k, col in columns.items()}, i, paired)
            for i in range(int(n))]


def count_runs(space: Space, random_trials: int | None = None) -> int:
    """How many runs a grid (or a random search of `random_trials`) over `space` makes."""
    if random_trials:
        return int(random_trials)
    return math.prod(len(s.options if isinstance(s, Choice) else s) for s in space.values())


def varied_fields(configs: list[TrainConfig]) -> list[str]:
    """The config fields whose values differ between runs, in field order."""
    if not configs:
        return []
    dicts = [c.to_dict() for c in configs]
    return [k for k in dicts[0] if any(d[k] != dicts[0][k] for d in dicts[1:])]


def format_value(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (tuple, list)):
        return "-".join(str(x) for x in v)
    return str(v)


# --------------------------------------------------------------------------------------------
# Presets: the comparisons people come for


@dataclass(frozen=True)
class SearchPreset:
    """A named comparison: a base config plus a grid `space`, or explicit `variants` (each a
    dict of changes to the base, for comparisons that change one thing at a time)."""

    title: str
    note: str
    base: TrainConfig
    space: dict | None = None
    variants: tuple = ()

    def configs(self, paired: bool = True, **changes) -> list[TrainConfig]:
        """The runs, with `changes` (the budget: epochs, subset, ...) applied to the base;
        `paired=False` gives run i the seed base.seed + i, as grid() does."""
        base = self.base.replace(**changes) if changes else self.base
        if self.space:
            return grid(self.space, base, paired)
        return [_make(base, v, i, paired) for i, v in enumerate(self.variants)]


_TUTORIAL = TrainConfig(hidden=(128, 64), activation="relu", init="normal001", optimizer="sgd",
                        lr=0.1, batch_size=32, epochs=3, val_fraction=0.1, seed=0)

SEARCH_PRESETS: dict[str, SearchPreset] = {
    "four-learning-rates": SearchPreset(
        "Four learning rates side by side",
        "784-128-64-10, He init, plain SGD, batch 32, identical starting weights and batches. "
        "lr 0.001 crawls, 0.05 converges, 0.5 is fast but jumpy, 5 blows up.",
        _TUTORIAL.replace(init="he"), space={"lr": [0.001, 0.05, 0.5, 5.0]}),
    "tutorial": SearchPreset(
        "The tutorial's four experiments",
        "784-128-64-10, N(0, 0.01^2) init, SGD, batch 32, lr 0.1, then one change at a time: "
        "lr 0.001 (the tiny initial weights make the signal vanish: it barely moves), wider "
        "layers (256-128), batch 128 (4x fewer steps per epoch).",
        _TUTORIAL, variants=({"lr": 0.1}, {"lr": 0.001}, {"hidden": (256, 128)},
                             {"batch_size": 128})),
    "lr-u-curve": SearchPreset(
        "Learning rates from 1e-4 to 1 (the U-curve)",
        "Nine learning rates, evenly spaced on a log scale, for 784-128-64-10 with He init and "
        "plain SGD: too small learns slowly, too big overshoots or diverges, the best is in "
        "between.",
        _TUTORIAL.replace(init="he"),
        space={"lr": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0]}),
}


# --------------------------------------------------------------------------------------------
# Results


@dataclass
class RunResult:
    """One run of a search: its config, live status and history, and (maybe) final weights."""

    run_id: int
    config: TrainConfig
    values: dict  # the varied fields and this run's values
    status: str = "pending"
    history: list = field(default_factory=list, repr=False)  # train() records, as they came
    message: str = ""
    state: dict | None = field(default=None, repr=False)  # final weights, if kept
    worker: int | None = None  # pid of the process that trained it

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={format_value(v)}" for k, v in self.values.items()) or \
            f"run {self.run_id}"

    @property
    def last(self) -> dict:
        """The last record with validation figures (end of an epoch), else the last record."""
        for rec in reversed(self.history):
            if rec.get("val_loss") is not None or rec.get("status") != "running":
                return rec
        return self.history[-1] if self.history else {}

    @property
    def epochs_done(self) -> float:
        return float(self.history[-1]["epoch"]) if self.history else 0.0

    @property
    def progress(self) -> float:
        """0..1 of the planned epochs (1 once finished, whatever the reason)."""
        if self.status in FINISHED:
            return 1.0
        return min(self.epochs_done / max(self.config.epochs, 1), 1.0)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def score(self) -> float:
        """What 'best' means: validation accuracy (training accuracy without a validation set);
        a diverged or failed run ranks below every run that finished."""
        rec = self.last
        acc = rec.get("val_acc")
        if acc is None:
            acc = rec.get("train_acc")
        if acc is None or self.status in ("diverged", "failed", "cancelled"):
            return -1.0 + (acc or 0.0) * 1e-3
        return float(acc)

    def to_dict(self) -> dict:
        """Plain data for figures (mnist.plots.search) and JSON."""
        return dict(run_id=self.run_id, label=self.label, values=dict(self.values),
                    status=self.status, history=list(self.history), message=self.message,
                    config=self.config.to_dict(), progress=self.progress)

    def row(self) -> dict:
        """A flat row for a results table."""
        rec = self.last
        row = {"run": self.run_id}
        for k, v in self.values.items():
            row[k] = format_value(v) if isinstance(v, (tuple, list)) else v
        row.update(status=self.status, epochs=round(self.epochs_done, 3),
                   val_acc=rec.get("val_acc"), val_loss=rec.get("val_loss"),
                   train_acc=rec.get("train_acc"), train_loss=rec.get("train_loss"),
                   seconds=round(self.history[-1]["elapsed"], 2) if self.history else None,
                   message=self.message)
        return row


def results_table(results: list[RunResult]) -> list[dict]:
    return [r.row() for r in results]


def results_csv(results: list[RunResult]) -> str:
    rows = results_table(results)
    out = io.StringIO()
    if rows:
        w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return out.getvalue()


def results_json(results: list[RunResult], indent: int | None = 2) -> str:
    payload = [dict(r.row(), config=r.config.to_dict(), history=r.history) for r in results]
    return json.dumps(payload, indent=indent)


def write_results(results: list[RunResult], path) -> None:
    """A results table to `path`: JSON if it ends in .json, CSV otherwise."""
    path = os.fspath(path)
    text = results_json(results) if path.lower().endswith(".json") else results_csv(results)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# --------------------------------------------------------------------------------------------
# Time estimate


def measure_speed(config: TrainConfig, train_ds: Dataset, n: int | None = None) -> float:
    """Samples per second of one worker (one BLAS thread) training `config`'s network: a short
    timed run on `n` digits (default: fewer for bigger networks, so it stays a fraction of a
    second)."""
    from mnist.training.loop import train

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
    return (config.hidden, config.batch_size, config.optimizer, config.dtype, config.dropout)


# --------------------------------------------------------------------------------------------
# Workers


class blas_threads:
    """Limit BLAS threads (threadpoolctl) inside a block; no-op if it is not installed."""

    def __init__(self, n: int):
        self.n, self.ctx = n, None

    def __enter__(self):
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover
            return self
        self.ctx = threadpool_limits(self.n)
        return self

    def __exit__(self, *exc):
        if self.ctx is not None:
            self.ctx.restore_original_limits()


class _Worker:
    """Trains runs on request and keeps the paused ones (successive halving) alive.

    `handle(task)` is a generator of messages for the parent:
      ("started", run_id, pid) ("record", run_id, rec)
      ("paused", run_id, None) ("finished", run_id, state_or_None) ("failed", run_id, text)
    """

    def __init__(self, train_ds, validation, report_every, stop):
        self.train_ds, self.validation = train_ds, validation
        self.report_every, self.stop = report_every, stop
        self.runs = {}  # run_id -> TrainingRun (paused between rungs)

    def handle(self, task) -> Iterator[tuple]:
        op, run_id = task[0], task[1]
        if op == "drop":
            run = self.runs.pop(run_id, None)
            if run is not None and task[2]:
                yield ("finished", run_id, run.model.state_dict())
            return
        _, _, config_json, until, send_state = task
        try:
            run = self.runs.get(run_id)
            if run is None:
                from mnist.training.loop import train

                cfg = TrainConfig.from_json(config_json)
                run = train(cfg, self.train_ds, validation=self.validation,
                            report_every=self.report_every, stop=self.stop)
                self.runs[run_id] = run
                yield ("started", run_id, os.getpid())
            for rec in run:
                yield ("record", run_id, rec)
                if rec["status"] != "running":
                    self.runs.pop(run_id, None)
                    yield ("finished", run_id, run.model.state_dict() if send_state else None)
                    return
                # end-of-epoch records have whole epochs (intra-epoch ones never do)
                if until is not None and float(rec["epoch"]).is_integer() and \
                        rec["epoch"] >= until:
                    yield ("paused", run_id, None)
                    return
            # the generator ended without a final status (should not happen): call it done
            self.runs.pop(run_id, None)
            yield ("finished", run_id, run.model.state_dict() if send_state else None)
        except Exception as e:  # a bad run must not take the search down
            self.runs.pop(run_id, None)
            yield ("failed", run_id, f"{type(e).__name__}: {e}")


def _worker_main(inbox, outbox, cancel, train_ds, validation, report_every):
    """A worker process: one BLAS thread, tasks from its inbox, messages to the shared outbox.
    Ctrl-C is the parent's business (it cancels the search); workers ignore it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with blas_threads(1):
        worker = _Worker(train_ds, validation, report_every, cancel.is_set)
        while True:
            task = inbox.get()
            if task is None:
                break
            for msg in worker.handle(task):
                outbox.put(msg)
    outbox.put(("exit", None, os.getpid()))


# --------------------------------------------------------------------------------------------
# The search


def available_cores() -> int:
    """Cores this process may run on (a container's CPU set can be smaller than the host's)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


_RUNNING: set = set()  # ids of the Searches running in this process (the app: every session's)
_RUNNING_LOCK = threading.Lock()


def running_searches() -> int:
    """How many searches are running in this process right now (they share the cores)."""
    with _RUNNING_LOCK:
        return len(_RUNNING)


@dataclass
class SearchEvent:
    """What a Search yields. kind: "started" | "record" | "finished" | "rung" | "done".
    `record` is the train() record for "record"; `result` the RunResult it concerns."""

    kind: str
    run_id: int | None = None
    record: dict | None = None
    result: RunResult | None = None
    message: str = ""


def halving_rungs(epochs: int, n_runs: int) -> list[int]:
    """Epochs at which successive halving compares the runs: ..., E/4, E/2, E (whole epochs),
    one rung per halving that still leaves a run, e.g. (4 epochs, 8 runs) -> [1, 2, 4]."""
    n_rungs = max(1, min(math.ceil(math.log2(max(n_runs, 1))) + 1,
                         int(math.floor(math.log2(max(epochs, 1)))) + 1))
    rungs = sorted({max(1, int(round(epochs / 2 ** (n_rungs - 1 - r)))) for r in range(n_rungs)})
    return rungs


class Search:
    """Runs configs in parallel and yields events while they train (see the module docstring).

    - `jobs`: worker processes (default: the number of cores); `jobs=0` trains in this process,
      one run after another (no processes: for tests, debugging, and serial baselines).
    - `validation`: one validation set for every run; by default each run splits its own from
      its training data with its config's seed (identical for paired runs).
    - `halving`: successive halving, the better half continue after each rung.
    - `keep`: "best" (final weights of the best run only), "all", or "none".
    - `report_every`: also stream a record every N batches (intra-epoch points for live curves).
    Iterate it (in one thread) to run it; `cancel()` may be called from any thread. `start()`
    runs it in a background thread instead and returns at once.
    """

    def __init__(self, configs: list[TrainConfig], train: Dataset,
                 validation: Dataset | None = None, jobs: int | None = None,
                 halving: bool = False, keep: str = "best", report_every: int | None = None,
                 start_method: str | None = None):
        configs = list(configs)
        _check_count(len(configs))
        for i, c in enumerate(configs):
            if not isinstance(c, TrainConfig):
                raise ConfigError(f"run {i + 1}: expected a TrainConfig, got {type(c).__name__}")
            if c.epochs > MAX_SEARCH_EPOCHS:
                raise ConfigError(f"run {i + 1}: {c.epochs} epochs is too many for a search "
                                  f"(at most {MAX_SEARCH_EPOCHS} per run)")
        if not isinstance(train, Dataset):
            raise DatasetError(f"train must be a Dataset, got {type(train).__name__}")
        if not train.has_labels:
            raise DatasetError(f"{train.name} has no labels: it cannot be trained on")
        if keep not in ("best", "all", "none"):
            raise ConfigError(f"keep must be 'best', 'all' or 'none', got {keep!r}")
        if halving and len({c.epochs for c in configs}) > 1:
            raise ConfigError("successive halving needs every run to have the same number of "
                              "epochs (do not vary epochs)")
        jobs = available_cores() if jobs is None else int(jobs)
        if not 0 <= jobs <= MAX_JOBS:
            raise ConfigError(f"jobs must be in 0..{MAX_JOBS}, got {jobs}")
        self.configs = configs
        self.train, self.validation = train, validation
        self._shared = None  # (data, validation) prepared once for every run, see _prepare
        self.jobs = min(jobs, len(configs))
        self.halving, self.keep, self.report_every = halving, keep, report_every
        self.start_method = start_method or (
            "fork" if "fork" in mp.get_all_start_methods() else "spawn")
        names = varied_fields(configs)
        self.varied = names
        self.results = [RunResult(i, c, {k: getattr(c, k) for k in names})
                        for i, c in enumerate(configs)]
        self.rungs = halving_rungs(configs[0].epochs, len(configs)) if halving else None
        self.events: list[SearchEvent] = []  # rung decisions and the like, for display
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.error: str | None = None
        self._cancel_flag = threading.Event()
        self._mp_cancel = None
        self._procs: list = []
        self._thread: threading.Thread | None = None
        self._consumed = False

    # ------------------------------------------------------------------ state
    @property
    def cancelled(self) -> bool:
        return self._cancel_flag.is_set()

    @property
    def done(self) -> bool:
        return self.finished_at is not None

    @property
    def running(self) -> bool:
        return self.started_at is not None and not self.done

    @property
    def best(self) -> RunResult | None:
        ranked = self.ranked()
        return ranked[0] if ranked and ranked[0].history else None

    def ranked(self) -> list[RunResult]:
        return sorted(self.results, key=lambda r: -r.score)

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.perf_counter()) - self.started_at

    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]

    # ------------------------------------------------------------------ control
    def cancel(self) -> None:
        """Stop every run (within a batch) and shut the workers down. Thread-safe."""
        self._cancel_flag.set()
        if self._mp_cancel is not None:
            self._mp_cancel.set()

    def start(self) -> Search:
        """Run the search in a background thread (the results fill in as it goes)."""
        def consume():
            try:
                for _ in self:
                    pass
            except Exception as e:  # recorded for the caller, never lost
                self.error = f"{type(e).__name__}: {e}"
                self.finished_at = self.finished_at or time.perf_counter()

        self._thread = threading.Thread(target=consume, name="mnist-search", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a started search to finish; True if it did."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done

    def run(self) -> list[RunResult]:
        """Run to the end (in this thread) and return the results."""
        for _ in self:
            pass
        return self.results

    # ------------------------------------------------------------------ the scheduler
    def __iter__(self) -> Iterator[SearchEvent]:
        if self._consumed:
            raise RuntimeError("a Search runs once; make a new one to run again")
        self._consumed = True
        self.started_at = time.perf_counter()
        with _RUNNING_LOCK:
            _RUNNING.add(id(self))
        try:
            yield from self._schedule()
        except BaseException:  # the consumer stopped early (break, Ctrl-C, an error)
            self.cancel()
            raise
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(id(self))
            self._shutdown()
            self._shared = None  # the prepared digits are not kept with the results
            for r in self.results:
                if not r.finished:
                    r.status = "cancelled" if self.cancelled else "failed"
                    r.message = r.message or ("cancelled" if self.cancelled else
                                              "the search ended before this run finished")
            self.finished_at = time.perf_counter()

    def _task(self, r: RunResult, until: int | None) -> tuple:
        send = self.keep != "none"
        cfg = r.config if self._shared is None else r.config.replace(subset=None)
        return ("advance", r.run_id, cfg.to_json(), until, send)

    def _prepare(self) -> tuple:
        """(training data, validation) the workers get. When every run takes the same subset
        and validation split (paired runs: same seed), do it once here: the workers then share
        one copy of the digits (fork, read-only) instead of making one each, which halves the
        memory traffic of two workers (and the search's memory). Runs then train on exactly
        what train() would have cut for them."""
        keys = {(c.subset, c.val_fraction, c.seed) for c in self.configs}
        if self.validation is not None or len(keys) != 1:
            return self.train, self.validation
        subset, val_fraction, seed = keys.pop()
        try:
            data = self.train.subset(subset, seed=seed) if subset is not None else self.train
            val = None
            if val_fraction > 0:
                data, val = data.split(val_fraction, seed=seed)
        except (DatasetError, ConfigError, ValueError):
            return self.train, self.validation  # each run then fails with train()'s message
        self._shared = (data, val)
        return data, val

    def _schedule(self) -> Iterator[SearchEvent]:
        if self.jobs == 0:
            backend = _InProcess(self)
        else:
            backend = _Processes(self)
        rungs = self.rungs or [None]
        alive = list(self.results)
        for k, until in enumerate(rungs):
            if self.cancelled:
                break
            last_rung = k == len(rungs) - 1
            todo = deque(r for r in alive if not r.finished)
            for ev in backend.run_rung(todo, None if last_rung else until):
                yield ev
            if self.cancelled or last_rung:
                break
            # successive halving: the better half of this rung's runs go on
            paused = [r for r in alive if not r.finished]
            keep_n = max(1, math.ceil(len(alive) / 2))
            ranked = sorted(paused, key=lambda r: -r.score)
            survivors, dropped = ranked[:keep_n], ranked[keep_n:]
            for i, r in enumerate(dropped, start=keep_n + 1):
                r.status = "halved"
                acc = r.last.get("val_acc")
                r.message = (f"stopped by successive halving after epoch {until}: ranked {i} of "
                             f"{len(alive)} (val acc {acc if acc is None else round(acc, 4)})")
                yield from backend.drop(r, want_state=self.keep == "all")
                yield SearchEvent("finished", r.run_id, result=r, message=r.message)
            msg = (f"rung {k + 1} (epoch {until}): {len(survivors)} of {len(alive)} runs continue: "
                   + ", ".join(r.label for r in survivors))
            self.events.append(SearchEvent("rung", message=msg))
            yield self.events[-1]
            alive = survivors
        yield SearchEvent("done", message="cancelled" if self.cancelled else "done")

    # ------------------------------------------------------------------ messages
    def _on_message(self, msg) -> SearchEvent | None:
        kind, run_id, payload = msg
        r = self.results[run_id]
        if kind == "started":
            r.status, r.worker = "running", payload
            return SearchEvent("started", run_id, result=r)
        if kind == "record":
            r.history.append(payload)
            if payload.get("message"):
                r.message = payload["message"]
            return SearchEvent("record", run_id, record=payload, result=r)
        if kind == "paused":
            return None
        if kind == "finished":
            status = r.history[-1]["status"] if r.history else "stopped"
            if r.status != "halved":
                r.status = "done" if status == "running" else status
            self._keep_state(r, payload)
            return SearchEvent("finished", run_id, result=r, message=r.message)
        if kind == "failed":
            r.status, r.message = "failed", payload
            return SearchEvent("finished", run_id, result=r, message=payload)
        return None

    def _keep_state(self, r: RunResult, state) -> None:
        if state is None or self.keep == "none":
            return
        if self.keep == "all":
            r.state = state
            return
        holder = next((x for x in self.results if x.state is not None), None)
        if holder is None or r.score > holder.score:
            if holder is not None:
                holder.state = None
            r.state = state

    def _shutdown(self) -> None:
        backend = getattr(self, "_backend", None)
        if backend is not None:
            backend.close()


class _InProcess:
    """jobs=0: the same worker logic, run here, one task at a time."""

    def __init__(self, search: Search):
        self.search = search
        search._backend = self
        self.worker = _Worker(*search._prepare(), search.report_every,
                              search._cancel_flag.is_set)

    def run_rung(self, todo: deque, until) -> Iterator[SearchEvent]:
        while todo and not self.search.cancelled:
            r = todo.popleft()
            with blas_threads(1):  # like a worker: comparable timings, no oversubscription
                for msg in self.worker.handle(self.search._task(r, until)):
                    ev = self.search._on_message(msg)
                    if ev is not None:
                        yield ev

    def drop(self, r: RunResult, want_state: bool) -> Iterator[SearchEvent]:
        for msg in self.worker.handle(("drop", r.run_id, want_state)):
            self.search._on_message(msg)
        return iter(())

    def close(self):
        self.worker.runs.clear()


class _Processes:
    """jobs >= 1: worker processes, each with its own inbox; the parent assigns a new run to an
    idle worker, and a paused run (halving) back to the worker that holds it."""

    POLL = 0.1  # seconds between checks of cancel and worker health
    GRACE = 2.0  # seconds workers get to stop by themselves on cancel before being terminated

    def __init__(self, search: Search):
        self.search = search
        search._backend = self
        ctx = mp.get_context(search.start_method)
        self.cancel_event = ctx.Event()
        search._mp_cancel = self.cancel_event
        if search.cancelled:
            self.cancel_event.set()
        self.outbox = ctx.Queue()
        self.inboxes = [ctx.Queue() for _ in range(search.jobs)]
        data = search._prepare()
        self.procs = [ctx.Process(target=_worker_main, name=f"mnist-search-{i}", daemon=True,
                                  args=(self.inboxes[i], self.outbox, self.cancel_event,
                                        *data, search.report_every))
                      for i in range(search.jobs)]
        search._procs = self.procs
        for p in self.procs:
            p.start()
        self.holder = {}  # run_id -> worker index holding it (paused between rungs)
        self.busy = {}  # worker index -> run_id it is training
        self.dead = set()
        self.closed = False

    def _live(self):
        return [i for i in range(len(self.procs)) if i not in self.dead]

    def run_rung(self, todo: deque, until) -> Iterator[SearchEvent]:
        s = self.search
        while (todo or self.busy) and not s.cancelled:
            # hand out work: held runs to their worker, new runs to any idle worker
            for i in self._live():
                if i in self.busy or not todo:
                    continue
                pick = next((r for r in todo if self.holder.get(r.run_id) == i), None)
                if pick is None:
                    pick = next((r for r in todo if r.run_id not in self.holder), None)
                if pick is None:
                    continue
                todo.remove(pick)
                self.busy[i] = pick.run_id
                self.holder[pick.run_id] = i
                self.inboxes[i].put(s._task(pick, until))
            if not self._live():
                return
            try:
                msg = self.outbox.get(timeout=self.POLL)
            except queue.Empty:
                self._check_health(todo)
                continue
            yield from self._handle(msg)
        if s.cancelled:
            yield from self._drain_after_cancel()

    def _handle(self, msg) -> Iterator[SearchEvent]:
        kind, run_id = msg[0], msg[1]
        if kind == "exit":
            return
        if kind in ("paused", "finished", "failed"):
            i = self.holder.get(run_id)
            if self.busy.get(i) == run_id:
                del self.busy[i]
            if kind != "paused":
                self.holder.pop(run_id, None)
        ev = self.search._on_message(msg)
        if ev is not None:
            yield ev

    def _check_health(self, todo: deque) -> None:
        """A worker that died (killed, out of memory) fails its runs, not the search."""
        for i in self._live():
            p = self.procs[i]
            if p.is_alive():
                continue
            self.dead.add(i)
            lost = [rid for rid, w in self.holder.items() if w == i]
            self.busy.pop(i, None)
            for rid in lost:
                self.holder.pop(rid, None)
                r = self.search.results[rid]
                if r in todo:  # a paused run waiting for its (dead) worker
                    todo.remove(r)
                if not r.finished:
                    r.status = "failed"
                    r.message = (f"its worker process died (exit code {p.exitcode}; out of "
                                 "memory?)")
        if not self._live():
            for r in todo:
                r.status, r.message = "failed", "no worker process left"
            todo.clear()

    def _drain_after_cancel(self) -> Iterator[SearchEvent]:
        """Collect the runs' "stopped" records for a moment, then let close() terminate."""
        deadline = time.perf_counter() + self.GRACE
        while self.busy and time.perf_counter() < deadline:
            try:
                msg = self.outbox.get(timeout=self.POLL)
            except queue.Empty:
                self._check_health(deque())
                continue
            yield from self._handle(msg)

    def drop(self, r: RunResult, want_state: bool) -> Iterator[SearchEvent]:
        i = self.holder.pop(r.run_id, None)
        if i is not None and i not in self.dead:
            self.inboxes[i].put(("drop", r.run_id, False))
        return iter(())

    def close(self) -> None:
        """Stop the workers: a polite sentinel, then terminate, then kill. Idempotent."""
        if self.closed:
            return
        self.closed = True
        busy = bool(self.busy)
        self.cancel_event.set()  # anything still training stops within a batch
        for i, q in enumerate(self.inboxes):
            if i not in self.dead:
                try:
                    q.put(None)
                except (OSError, ValueError):  # pragma: no cover
                    pass
        deadline = time.perf_counter() + (0.5 if self.search.cancelled or busy else 5.0)
        while any(p.is_alive() for p in self.procs) and time.perf_counter() < deadline:
            try:  # drain, or a worker blocks on a full pipe and never exits
                self.outbox.get(timeout=0.05)
            except queue.Empty:
                pass
            except (OSError, EOFError, ValueError):  # pragma: no cover
                break
        for p in self.procs:
            if p.is_alive():
                p.terminate()
        for p in self.procs:
            p.join(1.0)
            if p.is_alive():  # pragma: no cover - SIGTERM ignored
                p.kill()
                p.join(1.0)
        for q in [*self.inboxes, self.outbox]:
            q.cancel_join_thread()
            q.close()
