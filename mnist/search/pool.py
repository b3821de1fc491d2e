"""The search engine: many training runs, side by side, on all the machine's cores.

    configs = grid({"lr": [1e-4, 1e-3, 1e-2, 1e-1]}, base=TrainConfig(epochs=3))
    search = Search(configs, train_ds, jobs=2)
    for ev in search:                                       # events while the runs train
        ...                                                 # ev.kind, ev.run_id, ev.record
    search.results; search.best                             # RunResult objects

Why it is built this way:

- *Processes, not threads.* NumPy training holds the GIL between BLAS calls, so runs go to worker
  processes (fork: the dataset is shared copy-on-write, nothing is pickled to start a worker).
  Each worker limits BLAS to one thread, so `jobs` workers use `jobs` cores and do not fight.
  The workers themselves are in mnist.search.workers; this module schedules and decides.
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

import math
import multiprocessing as mp
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Iterator

from mnist.data.dataset import Dataset
from mnist.errors import DatasetError
from mnist.search.results import RunResult
from mnist.search.space import check_count, varied_fields
from mnist.search.workers import InProcess, Processes
from mnist.training.config import ConfigError, TrainConfig

MAX_SEARCH_EPOCHS = 50  # epochs per run in a search
MAX_JOBS = 16


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
        check_count(len(configs))
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
            backend = InProcess(self)
        else:
            backend = Processes(self)
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
