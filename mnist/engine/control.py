"""Steering a running trial through its storage: Stop, and a new learning rate.

A trial trains in some worker process, maybe on another machine; whoever looks at it (a page,
the CLI) can only write to the storage. So both requests are study user attributes that the
trial reads between two batches, at most every `STOP_POLL_S`:

    stop:               the whole study stops            (Study.stop)
    stop:<number>       this trial stops                 (Study.stop_trial)
    lr:<number>         [sequence, rate]: train at this rate from the next batch (ask_lr)

`Steering` is train()'s per-batch callback in the trial: it answers "stop now?" and, between
two batches, sets a requested rate on the optimizer through
`mnist.training.live.LearningRateControl` (the same code as a run in this process), so the
change becomes a record of its own (`event="lr"`) in the trial's records, where the curves
show it. A rate is only taken by runs on a constant schedule (the control says which).
"""

from __future__ import annotations

import time

from mnist.errors import ConfigError
from mnist.training.config import TrainConfig
from mnist.training.live import LearningRateControl, batches_per_epoch, run_optimizer

STOP_POLL_S = 0.2  # a running trial reads its flags this often
STOP_KEY = "stop"
LR_KEY = "lr"


def ask_lr(ostudy, number: int, lr: float, sequence: int) -> None:
    """Ask trial `number` of the Optuna study to train at `lr` from its next batch.
    `sequence` numbers the requests (a later one replaces an earlier one not yet taken)."""
    ostudy.set_user_attr(f"{LR_KEY}:{int(number)}", [int(sequence), float(lr)])


class Steering:
    """train()'s `stop` callback for trial `number` (asked once before the first batch, then
    after every batch): True once a stop flag is set. Set `run` to the TrainingRun as soon as
    train() returns it; a rate taken between two batches goes to `on_record`."""

    def __init__(self, storage, study_id: int, number: int, cfg: TrainConfig,
                 on_record=None):
        self.storage, self.study_id = storage, study_id
        self.stop_key, self.lr_key = f"{STOP_KEY}:{number}", f"{LR_KEY}:{number}"
        self.control = LearningRateControl(cfg)
        self.batch_size = cfg.batch_size
        self.on_record = on_record
        self.run = None
        self.seen, self.last, self.polls = False, -1e9, 0
        self.batches = -1  # batches trained so far (the first call comes before any)
        self.sequence = 0  # the last rate request taken

    def __call__(self) -> bool:
        self.batches += 1
        now = time.monotonic()
        if not self.seen and now - self.last >= STOP_POLL_S:
            self.last, self.polls = now, self.polls + 1
            self._read(self.storage.get_study_user_attrs(self.study_id))
        opt = run_optimizer(self.run) if self.run is not None else None
        if self.control.pending is not None and opt is not None:  # (none before its 1st batch)
            n = batches_per_epoch(len(self.run.train_set), self.batch_size)
            rec = self.control.apply(opt, self.batches / n, self.batches)
            if rec is not None and self.on_record is not None:
                self.on_record(rec)
        return self.seen

    def _read(self, attrs: dict) -> None:
        self.seen = bool(attrs.get(STOP_KEY) or attrs.get(self.stop_key))
        asked = attrs.get(self.lr_key)
        if isinstance(asked, list) and len(asked) == 2 and asked[0] > self.sequence:
            self.sequence = asked[0]
            try:
                self.control.request(asked[1])
            except ConfigError:  # checked by the asker already; a stale or odd value is dropped
                pass
