"""Training in the background: a thread runs `mnist.training.loop` and keeps its records.

A web page must not wait for a training run: its script would be stuck until the run ends.
So the page starts a `TrainingJob`, keeps it (in the user's session) and looks at it now and
then: `job.records` grows as `train()` yields, `job.status` says where it is, `job.stop()` asks
it to end (train() checks the flag after every batch, so it ends within one batch and the model
keeps its last weights), `job.request_lr(0.01)` changes the learning rate from the next batch
on (the change is a record in `job.records`: mnist.training.live). Nothing here knows about
Streamlit.

    job = TrainingJob(cfg, train_ds, test=test_ds)   # validates now: ConfigError/DatasetError
    job.start()
    while not job.done: time.sleep(0.5); plot(job.records)
    job.model, job.result    # the trained network and its test scores (metrics.score)
"""

from __future__ import annotations

import math
import threading
import time
import weakref

from mnist.training.config import TrainConfig
from mnist.data.dataset import Dataset
from mnist.nn.model import MLP
from mnist.training.live import LearningRateControl, run_optimizer, batches_per_epoch
from mnist.training.loop import train
from mnist.training.metrics import score
from mnist.training.threads import blas_threads

FINISHED = ("done", "stopped", "diverged", "early_stopped", "error")
_STARTED: weakref.WeakSet = weakref.WeakSet()  # every job started in this process


def running_jobs() -> int:
    """Training jobs running in this process right now (in the app: all sessions' jobs)."""
    return sum(1 for job in list(_STARTED) if not job.done)


REPORTS_PER_EPOCH = 20  # intra-epoch records, so the curves move during an epoch


def report_every_for(n_train: int, batch_size: int | None, per_epoch: int = REPORTS_PER_EPOCH):
    """Batches between intra-epoch records: about `per_epoch` records an epoch (None when an
    epoch is a handful of batches anyway)."""
    B = min(batch_size or n_train, n_train) or 1
    n_batches = math.ceil(n_train / B)
    if n_batches < 2 * per_epoch:
        return 1 if n_batches > 1 else None
    return n_batches // per_epoch


class TrainingJob:
    """One training run in a daemon thread. Read `records`, `status`, `error`, `progress`;
    call `stop()`; `wait()` blocks until it has finished (tests, CLI)."""

    def __init__(self, cfg: TrainConfig, train_set: Dataset, model: MLP | None = None,
                 test: Dataset | None = None, report_every: int | None = None,
                 name: str = "run", owner=None, abandon_after: float | None = None):
        """`owner`: any weak-referenceable object (a web session's token); when it is garbage
        collected (the session has ended) the run stops by itself instead of training for
        nobody. `abandon_after`: seconds without a `touch()` (the page polling the job) after
        which the run stops too (a closed tab whose session the server has not dropped yet)."""
        self.name = name
        self.abandon_after = abandon_after
        self.last_seen = time.time()
        self._stop = threading.Event()
        self._owner = weakref.ref(owner) if owner is not None else None
        self._ended = threading.Event()  # set when training ends (before the test scoring)
        self.lr_control = LearningRateControl(cfg)
        self._batches = -1  # batches trained, counted by the loop's per-batch callback
        # train() checks its inputs here, in the caller's thread: errors surface at once
        self.run = train(cfg, train_set, model=model, stop=self._should_stop,
                         report_every=None)
        if report_every is None:
            report_every = report_every_for(len(self.run.train_set), cfg.batch_size)
        self.run.report_every = report_every
        self.config = cfg
        self.model = self.run.model
        self.test = test
        self.n_train = len(self.run.train_set)
        self.n_val = len(self.run.validation) if self.run.validation is not None else 0
        self.batches_per_epoch = batches_per_epoch(self.n_train, cfg.batch_size)
        self.records: list[dict] = []
        self.status = "ready"  # ready | running | done | stopped | diverged | early_stopped | error
        self.message = ""
        self.error: str | None = None
        self.result: dict | None = None  # test scores once finished (if a test set was given)
        self.outcome: str | None = None  # the run's final status as soon as training ends
                                         # (then `status` follows once the test is scored)
        self.started = self.finished_at = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------------------- control
    def start(self) -> TrainingJob:
        if self._thread is not None:
            raise RuntimeError("this job has already been started")
        _STARTED.add(self)
        blas_threads(1)  # a training thread next to a server's: see mnist.training.threads
        self.status = "running"
        self.started = time.time()
        self._thread = threading.Thread(target=self._work, name=f"train:{self.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def touch(self) -> None:
        """Someone is looking at this job (keeps an `abandon_after` job alive)."""
        self.last_seen = time.time()

    def request_lr(self, lr: float) -> None:
        """Train at `lr` from the next batch on (ConfigError for a bad rate, or a run whose
        schedule sets the rate); the change becomes a record in `records`."""
        self.lr_control.request(lr)

    @property
    def steerable(self) -> bool:
        """Whether the learning rate can change while it trains (a constant schedule)."""
        return self.lr_control.steerable

    def _should_stop(self) -> bool:
        # the loop asks once before the first batch and then after every batch: in between
        # two batches, the place to take a new learning rate
        self._batches += 1
        if self.lr_control.pending is not None and self.run is not None:
            rec = self.lr_control.apply(run_optimizer(self.run),
                                        self._batches / self.batches_per_epoch, self._batches)
            if rec is not None:
                self.records.append(rec)
        if not self._stop.is_set():
            if self._owner is not None and self._owner() is None:
                self.message = "stopped: the session that started it has ended"
                self._stop.set()
            elif (self.abandon_after is not None
                  and time.time() - self.last_seen > self.abandon_after):
                self.message = (f"stopped: nobody looked at it for {self.abandon_after:.0f} s "
                                "(the page was closed)")
                self._stop.set()
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the run to end after the current batch (the model keeps its last weights)."""
        self._stop.set()

    def wait_ended(self, timeout: float | None = None) -> bool:
        """Block until training has ended (the test scoring may still be going)."""
        return self._ended.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until finished (or `timeout` seconds); True if finished."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done

    @property
    def done(self) -> bool:
        return self.status in FINISHED

    @property
    def stopping(self) -> bool:
        return self._stop.is_set() and not self.done

    @property
    def scoring(self) -> bool:
        """Training has ended; the model is being scored on the test set."""
        return self.outcome is not None and not self.done

    # ---------------------------------------------------------------------------- progress
    @property
    def epochs(self) -> int:
        return self.config.epochs

    @property
    def progress(self) -> float:
        """Fraction of the planned epochs done, in [0, 1]."""
        if not self.records:
            return 0.0
        return min(1.0, self.records[-1]["epoch"] / self.epochs)

    @property
    def samples_per_s(self) -> float | None:
        for rec in reversed(self.records):
            if rec.get("samples_per_s"):
                return rec["samples_per_s"]
        return None

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished_at or time.time()) - self.started

    @property
    def time_left(self) -> float | None:
        """Seconds left at the current pace (None until there is a pace)."""
        p = self.progress
        if p <= 0 or self.done:
            return None if not self.done else 0.0
        return self.elapsed * (1 - p) / p

    # ---------------------------------------------------------------------------- the thread
    def _work(self):
        final = None
        try:
            for rec in self.run:
                self.records.append(rec)
                if rec.get("message") and not self.message.startswith("stopped:"):
                    self.message = rec["message"]
                if rec["status"] != "running":
                    final = self.outcome = rec["status"]
                    self._ended.set()
            if final is None:  # the generator ended without a final status
                final = self.outcome = "stopped" if self._stop.is_set() else "done"
            self._ended.set()
            if self.test is not None and self.test.has_labels and len(self.test):
                self.result = score(self.model, self.test)
            # the status changes last: whoever sees a finished job also sees its result
            self.finished_at = time.time()
            self.run = None  # let the training data's copies (subset, split) go: memory
            self.status = final
        except Exception as e:  # a bug or an unexpected input: reported, never raised in a page
            self.error = f"{type(e).__name__}: {e}"
            self.finished_at = time.time()
            self.run = None
            self.status = "error"
            self._ended.set()
