"""One training run on the engine, seen from the process that asked for it (the Train page).

A page that starts a run must not train it: the run is a one-trial study, queued on the
worker pool like any search, trained in a worker process, recorded in the storage. What the
page holds is an `EngineJob`: the study's id and a view of its one trial, read again from the
storage when looked at (at most every `REFRESH_S`), in the shape the page draws: records,
status, progress, the place in the queue, Stop, a new learning rate.

    job = start_job(cfg, owner="app-...", pool=shared_pool())   # queued at once
    job.status          # queued | running | done | stopped | diverged | early_stopped
                        #   | error | cancelled (stopped before it started)
    job.records         # train()'s records so far (intra-epoch and per-epoch)
    job.queue_position  # 1 = the next run a worker takes; None once it runs
    job.request_lr(0.01); job.stop(); job.wait(60)
    job.model, job.result    # once done: the trained network, its test scores

Nothing is kept only here: after a reload `EngineJob.reopen(study_id)` sees the same run.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import numpy as np

from mnist.engine import control
from mnist.engine.storage import open_storage
from mnist.engine.study import create_study, open_study
from mnist.engine.tasks import FINE_TUNE, RANGE_TEST
from mnist.errors import DatasetError, EngineError
from mnist.training.config import TrainConfig
from mnist.training.live import LearningRateControl, lr_changes
from mnist.training.lr_finder import check_inputs as check_range_inputs
from mnist.training.loop import check_inputs

REFRESH_S = 0.1  # a snapshot of the trial is read again after this long
FINISHED = ("done", "stopped", "diverged", "early_stopped", "error", "cancelled")
_STATUS = {"waiting": "queued", "complete": "done", "pruned": "stopped", "failed": "error"}


def start_job(cfg: TrainConfig, *, name: str = "run", model=None, train_set=None,
              data: str = "mnist", owner: str = "", pool=None, storage=None) -> EngineJob:
    """Queue one run of `cfg` on `pool` (under `owner`, who takes turns with the others) and
    return its job. `model`: a network to go on training (resume; it is saved for the worker,
    the object itself is never touched); `data`: the study's data key (mnist.engine.datacache)."""
    check_inputs(cfg, train_set, model, remote=True)  # train()'s own, before it is queued
    store = open_storage(storage)
    init = _save_model(store, "resume", model, cfg) if model is not None else None
    study = create_study(configs=[cfg], owner=owner, title=name, data=data, init=init,
                         score_test=True, storage=store)
    return _queued(study, pool, owner, name)


def start_range_test(cfg: TrainConfig, *, steps: int, train_set=None, data: str = "mnist",
                     owner: str = "", pool=None, storage=None) -> EngineJob:
    """Queue the learning-rate range test of `cfg` (mnist.training.lr_finder) as a run is
    queued: a one-trial study a worker runs, on `owner`'s turn; once done `job.lr_range` is
    its result. The study is tagged apart from the owner's, so "My studies" (a search's list)
    leaves it out. `train_set`, if given, is checked here (the worker reads `data`)."""
    check_range_inputs(cfg, train_set, steps=steps, remote=True)  # the test's own checks
    study = create_study(configs=[cfg], owner=f"{owner}:range-test", data=data,
                         title="learning-rate range test", task=RANGE_TEST,
                         task_args=dict(steps=steps), storage=open_storage(storage))
    return _queued(study, pool, owner, "range test")


def start_fine_tune(model, images, labels, *, data: str = "mnist", owner: str = "",
                    pool=None, storage=None) -> EngineJob:
    """Queue the fine-tuning of `model` on a user's digits (images (n, 28, 28) uint8, labels
    0-9; mnist.analysis.mydigits.fine_tune, then held_out_accuracy) as a run is queued. The
    model and the digits are saved for the worker (the objects are never touched); once done,
    `job.model` is the new network and `job.fine_tune` its figures (held, config, history)."""
    from mnist.training.config import config_for_model

    images = np.asarray(images, dtype=np.uint8).reshape(-1, 28, 28)
    labels = np.asarray(labels).reshape(-1)
    if len(labels) == 0 or len(labels) != len(images) or labels.min() < 0 or labels.max() > 9:
        raise DatasetError(f"fine-tuning needs digits with labels 0-9, got {len(images)} "
                           f"images and {len(labels)} labels")
    cfg = config_for_model(TrainConfig(), model)  # ConfigError for what is not a network
    store = open_storage(storage)
    init = _save_model(store, "fine-tune", model, cfg)
    digits = str(Path(init).with_suffix(".digits.npz"))
    with open(digits, "wb") as f:
        np.savez(f, images=images, labels=labels.astype(np.uint8))
    study = create_study(configs=[cfg], owner=f"{owner}:fine-tune", data=data, init=init,
                         title="fine-tune on your digits", task=FINE_TUNE,
                         task_args=dict(digits=digits), storage=store)
    return _queued(study, pool, owner, "fine-tune")


def _save_model(store, kind: str, model, cfg: TrainConfig) -> str:
    """`model` saved where a worker reads it (`weights/<kind>/` of the storage's folder, under
    an unguessable name); the path."""
    from mnist.training.persist import save_model

    folder = store.folder / "weights" / kind
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_urlsafe(12)}.npz"
    with open(path, "wb") as f:
        save_model(model, f, config=cfg)
    return str(path)


def _queued(study, pool, owner: str, name: str) -> EngineJob:
    """The study's trial queued on `pool` (if any) on `owner`'s turn, as a job."""
    if pool is not None:
        pool.submit(study, owner=owner)
    return EngineJob(study, name=name, pool=pool)


class _PendingRate:
    """`job.lr_control.pending`: the rate asked for and not yet taken (None: none)."""

    def __init__(self):
        self.pending: float | None = None
        self.changes_seen = 0


class EngineJob:
    """A one-trial study seen as a training job (see the module docstring)."""

    def __init__(self, study, name: str | None = None, pool=None):
        self.study, self.pool = study, pool
        self.id = study.id
        self.name = name or study.title or "run"
        self.config: TrainConfig = study.base
        self.lr_control = _PendingRate()
        self.steerable = LearningRateControl(self.config).steerable
        self._lr_seq = 0
        self._stop_asked = False
        self._view, self._read_at = None, -1e9
        self.read_error: str | None = None  # why the last read failed (the storage is away)
        self._model = self._result = None

    @classmethod
    def reopen(cls, study_id: str, storage=None, pool=None) -> EngineJob:
        """The job of a study started earlier (another session, before a restart)."""
        return cls(open_study(study_id, storage), pool=pool)

    # ------------------------------------------------------------------ the snapshot
    def view(self, force: bool = False):
        """The trial as last read (read again if older than REFRESH_S, or `force`)."""
        now = time.monotonic()
        if force or self._view is None or now - self._read_at >= REFRESH_S:
            try:
                view = self.study.trials()[0]
            except Exception as e:  # the database went away: keep what was read, say so
                self.read_error = (f"cannot read the run from {self.study.storage.label}: "
                                   f"{str(e).splitlines()[0] if str(e) else type(e).__name__}")
                if self._view is None:
                    raise EngineError(self.read_error) from None
                self._read_at = now
                return self._view
            self._view, self._read_at, self.read_error = view, now, None
            changes = len(lr_changes(view.records))
            if changes > self.lr_control.changes_seen or self._view.finished:
                self.lr_control.pending = None
            self.lr_control.changes_seen = changes
        return self._view

    @property
    def records(self) -> list[dict]:
        return self.view().records

    @property
    def status(self) -> str:
        v = self.view()
        if v.status == "complete":
            return v.outcome if v.outcome in ("done", "early_stopped") else "done"
        return _STATUS.get(v.status, v.status)

    @property
    def done(self) -> bool:
        return self.status in FINISHED

    @property
    def queued(self) -> bool:
        return self.status == "queued"

    @property
    def queue_position(self) -> int | None:
        """1 = the next run a worker of this pool takes; None when not queued here."""
        if self.pool is None or not self.queued:
            return None
        return self.pool.position(self.id)

    @property
    def outcome(self) -> str | None:
        """The run's final status as soon as training ends (the test scoring and the saving
        of its weights may still be going)."""
        if self.done:
            return self.status
        recs = self.records
        final = recs[-1]["status"] if recs else "running"
        return None if final == "running" else final

    @property
    def scoring(self) -> bool:
        return self.outcome is not None and not self.done

    @property
    def stopping(self) -> bool:
        return self._stop_asked and not self.done

    @property
    def message(self) -> str:
        v = self.view()
        if v.finished and v.message:
            return v.message
        return next((r["message"] for r in reversed(v.records) if r.get("message")), "")

    @property
    def error(self) -> str | None:
        return self.message if self.status == "error" else None

    @property
    def result(self) -> dict | None:
        """Test scores (mnist.training.metrics.score: figures and arrays) once done, if the
        data has a labelled test set; None otherwise."""
        if self._result is None and self.done:
            attrs = self.view().attrs
            if attrs.get("test") and attrs.get("test_file"):
                try:
                    with np.load(attrs["test_file"], allow_pickle=False) as arrays:
                        self._result = {**attrs["test"], **{k: arrays[k] for k in arrays}}
                except OSError:  # scored on another machine: the figures only
                    self._result = dict(attrs["test"])
        return self._result

    @property
    def lr_range(self) -> dict | None:
        """A range test's result (start_range_test) once done: LRFinderResult.to_dict()."""
        return self.view().attrs.get("lr_range") if self.done else None

    @property
    def fine_tune(self) -> dict | None:
        """A fine-tune's figures (start_fine_tune) once done: held (held_out_accuracy's
        dict), config, history; its model is `job.model`."""
        return self.view().attrs.get("fine_tune") if self.done else None

    def _size(self, key: str):
        return (self.view().attrs.get("sizes") or {}).get(key)

    n_train = property(lambda self: self._size("n_train"))
    n_val = property(lambda self: self._size("n_val") or 0)
    batches_per_epoch = property(lambda self: self._size("batches_per_epoch"))

    @property
    def epochs(self) -> int:
        return self.config.epochs

    @property
    def progress(self) -> float:
        recs = self.records
        return min(1.0, recs[-1]["epoch"] / self.epochs) if recs else 0.0

    @property
    def samples_per_s(self) -> float | None:
        return next((r["samples_per_s"] for r in reversed(self.records)
                     if r.get("samples_per_s")), None)

    @property
    def elapsed(self) -> float:
        v = self.view()
        if v.started is None:
            return 0.0
        return max(0.0, (v.finished_at or time.time()) - v.started)

    @property
    def time_left(self) -> float | None:
        if self.done:
            return 0.0
        p = self.progress
        return self.elapsed * (1 - p) / p if p > 0 else None

    @property
    def model(self):
        """The trained network (from its weights file), once done; None before, or when the
        run kept none (it failed, or was cancelled before it started)."""
        if self._model is None and self.done and self.view().weights:
            self._model = self.study.load_model(0)
        return self._model

    # ------------------------------------------------------------------ control
    def stop(self) -> None:
        """End the run after its current batch (weights kept); a queued run never starts.
        EngineError if the storage cannot be written (the run then goes on)."""
        if self.pool is not None:
            self.pool.cancel(self.id)
        try:
            self.study.stop()
        except Exception as e:
            raise EngineError(f"cannot reach {self.study.storage.label} to stop the run: "
                              f"{e}") from None
        self._stop_asked = True

    def request_lr(self, lr: float) -> None:
        """Train at `lr` from the next batch on (ConfigError for a bad rate or a scheduled
        run); the change becomes a record of the run."""
        LearningRateControl(self.config).request(lr)  # the same checks the worker applies
        recs = self.view(force=True).records
        if recs and float(lr) == recs[-1]["lr"]:
            return  # its rate already: nothing changes, nothing to wait for
        self._lr_seq += 1
        try:
            control.ask_lr(self.study.optuna, 0, lr, self._lr_seq)
        except Exception as e:
            raise EngineError(f"cannot reach {self.study.storage.label} to change the rate: "
                              f"{e}") from None
        self.lr_control.pending = float(lr)

    def wait_records(self, timeout: float | None = None) -> bool:
        """Until the run has its first record (or has finished); True if it has."""
        return self._wait(lambda: bool(self.records) or self.done, timeout)

    def wait_ended(self, timeout: float | None = None) -> bool:
        """Until training has ended (its scoring may still go on); True if it has."""
        return self._wait(lambda: self.outcome is not None, timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Until the run is finished; True if it is."""
        return self._wait(lambda: self.done, timeout)

    def _wait(self, ready, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.view(force=True)
            if ready():
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
