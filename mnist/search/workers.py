"""Where a search's runs train: worker processes, or this process one run after another.

A `Worker` trains runs on request and keeps the paused ones (successive halving) alive between
rungs; `worker_main` is a worker process around one. `Processes` (jobs >= 1) hands runs to the
worker processes and collects their messages; `InProcess` (jobs=0) runs the same Worker here.
Both turn the messages into SearchEvents through the Search that owns them (mnist.search.pool).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import time
from collections import deque
from typing import TYPE_CHECKING, Iterator

from mnist.search.results import RunResult
from mnist.training.config import TrainConfig
from mnist.training.loop import train
from mnist.training.threads import blas_threads

if TYPE_CHECKING:  # (pool imports this module: no import at run time)
    from mnist.search.pool import Search, SearchEvent


class Worker:
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


def worker_main(inbox, outbox, cancel, train_ds, validation, report_every):
    """A worker process: one BLAS thread, tasks from its inbox, messages to the shared outbox.
    Ctrl-C is the parent's business (it cancels the search); workers ignore it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with blas_threads(1):
        worker = Worker(train_ds, validation, report_every, cancel.is_set)
        while True:
            task = inbox.get()
            if task is None:
                break
            for msg in worker.handle(task):
                outbox.put(msg)
    outbox.put(("exit", None, os.getpid()))


class InProcess:
    """jobs=0: the same worker logic, run here, one task at a time."""

    def __init__(self, search: Search):
        self.search = search
        search._backend = self
        self.worker = Worker(*search._prepare(), search.report_every,
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


class Processes:
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
        self.procs = [ctx.Process(target=worker_main, name=f"mnist-search-{i}", daemon=True,
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
