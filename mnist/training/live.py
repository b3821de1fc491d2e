"""Runs a person steers: the learning rate changed while a run trains, and a run trained one
batch at a time.

Both ride on train()'s own loop (mnist/training/loop.py) through the per-batch callback it
already takes (`stop`, asked once before the first batch and after every batch), so nothing
here copies the loop or its steppers:

    control = LearningRateControl(cfg)
    control.request(0.01)          # any thread; ConfigError for a rate the run cannot take
    rec = control.apply(opt, epoch, step)   # the training thread, between two batches:
                                            # opt.lr changes, `rec` goes into the records

    steps = StepRun(cfg, train_ds)  # one minibatch per step(), in the caller's thread
    rec = steps.step()              # that batch's record (its loss and accuracy)

A change of learning rate is a record of its own in the run's stream (`event="lr"`, the new
`lr`, `lr_before`, where it took effect), so the history says what the curve did at that point.
"""

from __future__ import annotations

import math
import threading

from mnist.data.dataset import Dataset
from mnist.errors import ConfigError
from mnist.training.config import TrainConfig
from mnist.training.loop import train

MAX_LR = 100.0  # as TrainConfig.lr


def batches_per_epoch(n_train: int, batch_size: int | None) -> int:
    """Minibatches in one epoch of `n_train` digits (batch_size None/0: one full batch)."""
    B = min(batch_size or n_train, n_train) or 1
    return max(1, math.ceil(n_train / B))


def lr_record(epoch: float, step: int, before: float, after: float) -> dict:
    """The record of a learning-rate change, in the shape of train()'s records (no figures):
    from `step` on (a batch count; at `epoch`) the run trains at `after`."""
    return dict(epoch=round(float(epoch), 6), step=int(step), train_loss=None, train_acc=None,
                val_loss=None, val_acc=None, lr=float(after), elapsed=None, samples_per_s=None,
                status="running", event="lr", lr_before=float(before),
                message=f"learning rate {before:g} → {after:g}")


def lr_changes(records: list[dict]) -> list[dict]:
    """The learning-rate changes among a run's records."""
    return [r for r in records if r.get("event") == "lr"]


def run_optimizer(run):
    """The optimizer of a TrainingRun (None before its first batch): the only place its
    learning rate lives. On a constant schedule the loop never sets the rate itself."""
    return run.optimizer


class LearningRateControl:
    """The rate a user asks for while a run trains; the run takes it at its next batch.

    Only runs on a constant schedule without warm-up can be steered: a schedule sets the rate
    before every batch and would undo the change at once (`steerable` says which)."""

    def __init__(self, cfg: TrainConfig):
        self.steerable = cfg.schedule == "constant" and not cfg.warmup_epochs
        self._requested: float | None = None
        self._lock = threading.Lock()

    def request(self, lr: float) -> None:
        """Train at `lr` from the next batch on (ConfigError for a bad rate or a scheduled
        run)."""
        if not self.steerable:
            raise ConfigError("this run's learning rate follows its schedule; only runs on a "
                              "constant schedule without warm-up can change it while training")
        try:
            lr = float(lr)
        except (TypeError, ValueError):
            raise ConfigError(f"learning rate must be a number, got {lr!r}") from None
        if not (math.isfinite(lr) and 0 < lr <= MAX_LR):
            raise ConfigError(f"learning rate must be a number in (0, {MAX_LR:g}], got {lr!r}")
        with self._lock:
            self._requested = lr

    @property
    def pending(self) -> float | None:
        """The requested rate not taken yet (None when there is none)."""
        return self._requested

    def apply(self, opt, epoch: float, step: int) -> dict | None:
        """Between two batches (the training thread): set the requested rate on `opt`;
        returns the change's record, or None when nothing changes."""
        with self._lock:
            lr, self._requested = self._requested, None
        if lr is None or opt is None or lr == opt.lr:
            return None
        before, opt.lr = float(opt.lr), lr
        return lr_record(epoch, step, before, lr)


class StepRun:
    """A run its caller trains one minibatch at a time (a teaching tool: each step is cheap).

    It is train() itself with a record after every batch (`report_every=1`): a step resumes
    the loop for one batch, through the same stepper, schedule, divergence check and epoch
    ends (the last batch of an epoch also validates). `records` holds the loop's records and
    the learning-rate changes in order; `done` once the run has ended (its planned epochs,
    or diverged)."""

    def __init__(self, cfg: TrainConfig, train_set: Dataset, model=None,
                 validation: Dataset | None = None):
        self.config = cfg
        self.lr = LearningRateControl(cfg)
        self.run = train(cfg, train_set, model=model, validation=validation, report_every=1,
                         stop=self._between_batches)
        self.model = self.run.model
        self.n_train = len(self.run.train_set)
        self.batches_per_epoch = batches_per_epoch(self.n_train, cfg.batch_size)
        self.records: list[dict] = []
        self.status = "ready"  # ready | running | done | diverged | early_stopped

    @property
    def done(self) -> bool:
        return self.status not in ("ready", "running")

    @property
    def steps(self) -> int:
        """Minibatches trained so far."""
        return self._position()[1]

    @property
    def current_lr(self) -> float:
        """The rate the next batch trains at."""
        if self.lr.pending is not None:
            return self.lr.pending
        opt = run_optimizer(self.run)
        return float(opt.lr if opt is not None else self.config.lr)

    def _position(self) -> tuple[float, int]:
        for rec in reversed(self.records):
            if rec.get("event") is None:
                return rec["epoch"], rec["step"]
        return 0.0, 0

    def _take_lr(self) -> None:
        rec = self.lr.apply(run_optimizer(self.run), *self._position())
        if rec is not None:
            self.records.append(rec)

    def _between_batches(self) -> bool:
        self._take_lr()  # before the first batch: a rate asked for before any step
        return False

    def step(self) -> dict | None:
        """Train one minibatch; its record (None once the run is over)."""
        if self.done:
            return None
        if self.status == "running":
            self._take_lr()  # the loop is paused after a batch: the next one takes it
        self.status = "running"
        try:
            rec = next(self.run)
        except StopIteration:
            self.status = "done"
            return None
        self.records.append(rec)
        if rec["status"] != "running":
            self.status = rec["status"]
        return rec

    def close(self) -> None:
        """Let the run's data go (the model stays)."""
        self.run.close()
        if not self.done:
            self.status = "done"

