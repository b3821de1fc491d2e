"""The worker pool: processes that run trials for every submitter of a server, fairly.

    pool = shared_pool()                     # one per process (the app: per server), cores-sized
    pool.submit(study)                       # a ticket per waiting trial, under study.owner
    pool.position(study.id)                  # 1 = its next trial starts next; None = none queued
    pool.cancel(study.id); pool.close()

Why it is built this way:

- *Processes, started with spawn.* NumPy training holds the GIL between BLAS calls, so runs
  in threads of a server slow each other and the server down. Forking a multi-threaded server
  can deadlock the child (a lock held by a thread that does not exist there), so workers are
  spawned: a fresh interpreter that imports what it needs. Each limits BLAS to one thread
  (several small products in parallel beat one product split across threads) and maps the
  digits from the shared .npy cache (mnist.engine.datacache), once.
- *Tickets, round-robin.* A ticket means "run the next waiting trial of this study". Each
  submitter (an owner: an app session, the CLI) has its own queue; an idle worker takes the
  oldest ticket of the next owner in turn, so one session's 16-run search does not make
  another's single run wait behind it. A ticket whose study has nothing left to run (finished
  by remote workers, stopped) ends at once.
- *A dead worker costs one trial.* The pool watches each child's process handle; when one dies
  (SIGKILL, out of memory) the trial it had claimed is marked failed at once and a new worker
  takes its place. The study goes on.
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import types
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import wait

MAX_WORKERS = 16
START_METHOD = "spawn"  # never fork: see the module docstring
WORKERS_ENV = "MNIST_WORKERS"  # the pool's size, if set (a small server: fewer, less memory)
CPU_MAX = "/sys/fs/cgroup/cpu.max"  # a container's CPU quota (cgroup v2)


def available_cores() -> int:
    """Cores this process may use: its CPU set and a container's CPU quota (cgroup v2
    `cpu.max`: 2 CPUs of a 64-core host give 2 workers, not 64)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = open(CPU_MAX).read().split()[:2]
        if quota != "max":
            n = min(n, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def default_workers() -> int:
    """`$MNIST_WORKERS` if set, else one worker per available core."""
    env = os.environ.get(WORKERS_ENV)
    if env:
        try:
            return int(env)
        except ValueError:
            raise ValueError(f"{WORKERS_ENV} must be a whole number, got {env!r}") from None
    return available_cores()


@dataclass
class _Ticket:
    id: int
    study_id: str
    storage: str
    owner: str


def round_robin(queues: dict, turns, running: dict | None = None) -> list:
    """Every queued item in the order it will start. The next item is the oldest of the owner
    with the fewest runs going (`running`, plus those handed out before it); among equals, the
    first in `turns` (the owners' rotation, next to serve first), who then goes to the back."""
    queues = {o: list(q) for o, q in queues.items()}
    load = dict(running or {})
    turns = [o for o in turns if queues.get(o)]
    order = []
    while turns:
        o = min(turns, key=lambda o: (load.get(o, 0), turns.index(o)))
        turns.remove(o)
        order.append(queues[o].pop(0))
        load[o] = load.get(o, 0) + 1
        if queues[o]:
            turns.append(o)
    return order


_MAIN_LOCK = threading.Lock()


@contextmanager
def _bare_main():
    """A spawned child re-runs the parent's `__main__` file before anything else; in a
    Streamlit server that is the app's script (which would start another pool). Workers need
    nothing from it, so they start while `__main__` is a bare module."""
    with _MAIN_LOCK:
        saved, bare = sys.modules.get("__main__"), types.ModuleType("__main__")
        sys.modules["__main__"] = bare
        try:
            yield
        finally:
            if saved is not None and sys.modules.get("__main__") is bare:
                sys.modules["__main__"] = saved


class _Worker:
    def __init__(self, ctx):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_child_main, args=(child,), daemon=True,
                                name="mnist-worker")
        with _bare_main():
            self.proc.start()
        child.close()
        self.ready = False
        self.ticket: _Ticket | None = None
        self.trial: tuple[int, int] | None = None  # (trial id, number) it is training


class Pool:
    """Worker processes sharing one set of per-owner queues (see the module docstring)."""

    def __init__(self, workers: int | None = None, start_method: str = START_METHOD):
        if start_method == "fork":
            raise ValueError("the pool never forks: use 'spawn' or 'forkserver'")
        n = default_workers() if workers is None else int(workers)
        if not 1 <= n <= MAX_WORKERS:
            raise ValueError(f"workers must be in 1..{MAX_WORKERS}, got {n}")
        self.size, self.start_method = n, start_method
        self._ctx = mp.get_context(start_method)
        self._lock = threading.Lock()
        self._queues: dict[str, deque[_Ticket]] = {}
        self._turns: deque[str] = deque()  # owners with queued tickets, next to serve first
        self._ids = itertools.count(1)
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        self._closed = False
        self.failed_workers = 0  # workers that died and were replaced
        self._workers = [_Worker(self._ctx) for _ in range(n)]
        self._thread = threading.Thread(target=self._loop, daemon=True, name="mnist-pool")
        self._thread.start()

    # ------------------------------------------------------------------ submitters
    def submit(self, study, n: int | None = None, owner: str | None = None) -> int:
        """Queue `n` trials of `study` (default: all its waiting trials) under `owner`
        (default: the study's owner); how many were queued."""
        if self._closed:
            raise RuntimeError("the pool is closed")
        n = study.waiting() if n is None else int(n)
        owner = study.owner if owner is None else owner
        with self._lock:
            q = self._queues.setdefault(owner, deque())
            if not q and owner not in self._turns:
                self._turns.append(owner)
            for _ in range(n):
                q.append(_Ticket(next(self._ids), study.id, study.storage.url, owner))
        self._wake()
        return n

    def position(self, study_id: str) -> int | None:
        """Place of the study's next queued trial: 1 = starts next; None = nothing queued."""
        return next(iter(self.positions(study_id)), None)

    def positions(self, study_id: str) -> list[int]:
        """Places of every queued trial of the study, in the order they start (1 = next)."""
        with self._lock:
            order = round_robin(self._queues, self._turns, self._running_by_owner())
        return [i for i, t in enumerate(order, start=1) if t.study_id == study_id]

    def _running_by_owner(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for w in self._workers:
            if w.ticket is not None:
                counts[w.ticket.owner] = counts.get(w.ticket.owner, 0) + 1
        return counts

    def queued(self, study_id: str | None = None) -> int:
        with self._lock:
            return sum(1 for q in self._queues.values() for t in q
                       if study_id is None or t.study_id == study_id)

    def running(self, study_id: str | None = None) -> int:
        with self._lock:
            return sum(1 for w in self._workers if w.ticket is not None and
                       (study_id is None or w.ticket.study_id == study_id))

    def has_free_worker(self) -> bool:
        """Whether a trial queued now starts at once (fewer going and waiting than workers)."""
        return self.running() + self.queued() < self.size

    def cancel(self, study_id: str) -> int:
        """Drop the study's queued tickets (its running trials stop by the study's flag)."""
        with self._lock:
            n = 0
            for q in self._queues.values():
                keep = [t for t in q if t.study_id != study_id]
                n += len(q) - len(keep)
                q.clear()
                q.extend(keep)
        return n

    def wait(self, study_id: str | None = None, timeout: float | None = None) -> bool:
        """Until nothing of the study (or of anyone) is queued or running; True if so."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.queued(study_id) or self.running(study_id):
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Until every worker has started and loaded the digits; True if they have."""
        deadline = time.monotonic() + timeout
        while not all(w.ready for w in self._workers):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers]

    def close(self) -> None:
        """Stop the workers (a trial still running is failed: nobody will finish it)."""
        if self._closed:
            return
        self._closed = True
        self._wake()
        self._thread.join(5)
        for w in self._workers:
            try:
                w.conn.send(None)
            except (OSError, ValueError):
                pass
        for w in self._workers:
            w.proc.join(1.0 if w.ticket is None else 0.1)
            if w.proc.is_alive():
                w.proc.terminate()
                w.proc.join(1.0)
            if w.proc.is_alive():  # pragma: no cover - SIGTERM ignored
                w.proc.kill()
                w.proc.join(1.0)
            self._fail_held(w, "the worker pool was shut down")
            w.conn.close()

    # ------------------------------------------------------------------ the dispatcher
    def _wake(self) -> None:
        try:
            self._wake_w.send_bytes(b"x")
        except (OSError, ValueError):
            pass

    def _loop(self) -> None:
        while not self._closed:
            handles = {self._wake_r: None}
            for w in self._workers:
                handles[w.conn] = w
                handles[w.proc.sentinel] = w
            for h in wait(list(handles), timeout=1.0):
                w = handles[h]
                if w is None:
                    while self._wake_r.poll():
                        self._wake_r.recv_bytes()
                elif h is w.conn:
                    self._receive(w)
            for i, w in enumerate(self._workers):
                if not w.proc.is_alive() and not self._closed:
                    self._replace(i, w)
            self._dispatch()

    def _receive(self, w: _Worker) -> None:
        try:
            while w.conn.poll():
                msg = w.conn.recv()
                kind = msg[0]
                if kind == "ready":
                    w.ready = True
                elif kind == "claimed":
                    w.trial = (msg[2], msg[3])
                elif kind == "ended":
                    with self._lock:
                        w.ticket, w.trial = None, None
        except (EOFError, OSError):  # it died: the sentinel says so too
            pass

    def _replace(self, i: int, w: _Worker) -> None:
        w.proc.join(0.1)
        code = w.proc.exitcode
        why = (f"killed by signal {signal.Signals(-code).name}" if code is not None and code < 0
               else f"exit code {code}")
        self._fail_held(w, f"its worker process died ({why})")
        w.conn.close()
        self.failed_workers += 1
        with self._lock:
            self._workers[i] = _Worker(self._ctx)

    def _fail_held(self, w: _Worker, message: str) -> None:
        from mnist.engine.liveness import fail_trial
        from mnist.engine.storage import open_storage

        if w.ticket is not None and w.trial is not None:
            try:
                fail_trial(open_storage(w.ticket.storage).optuna, w.trial[0], message)
            except Exception:  # the storage is gone too: readers will find it stale
                pass
        w.ticket = w.trial = None

    def _dispatch(self) -> None:
        with self._lock:
            for w in self._workers:
                if not self._turns:
                    break
                if not w.ready or w.ticket is not None or not w.proc.is_alive():
                    continue
                order = round_robin(self._queues, self._turns, self._running_by_owner())
                if not order:  # only cancelled owners were left in the rotation
                    break
                t = order[0]
                self._queues[t.owner].popleft()
                self._turns.remove(t.owner)
                if self._queues[t.owner]:
                    self._turns.append(t.owner)  # served: to the back of the rotation
                try:
                    w.conn.send((t.id, t.storage, t.study_id))
                    w.ticket = t
                except (OSError, ValueError):  # died just now: back to the front
                    self._queues[t.owner].appendleft(t)
                    if t.owner not in self._turns:
                        self._turns.appendleft(t.owner)
            # owners whose tickets were all cancelled leave the rotation
            self._turns = deque(o for o in self._turns if self._queues.get(o))


def _child_main(conn) -> None:
    """A worker process: load the digits once, then run one trial per ticket."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    # terminate() unwinds (releasing the journal's file lock) instead of vanishing holding it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from mnist.training.threads import blas_threads

    blas_threads(1)
    from mnist.engine import datacache
    from mnist.engine.storage import runs_dir
    from mnist.engine.study import open_study
    from mnist.engine.trial import run_next_trial

    datacache.load(runs_dir())  # the bundled digits, mapped: the first trial starts at once
    _release_memory()  # what making the cache took (once per data folder)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if msg is None:
            return
        ticket, storage, study_id = msg
        try:
            number = run_next_trial(open_study(study_id, storage),
                                    on_claim=lambda tid, n: conn.send(("claimed", ticket, tid, n)))
            conn.send(("ended", ticket, number))
        except Exception as e:  # a storage that went away: report, stay alive
            conn.send(("ended", ticket, f"{type(e).__name__}: {e}"))
        _release_memory()


def _release_memory() -> None:
    """After a trial: free its cycles, return the freed heap (a worker must not grow per run)."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)  # glibc only; elsewhere nothing to do
    except (OSError, AttributeError):
        pass


_SHARED: Pool | None = None
_SHARED_LOCK = threading.Lock()


def shared_pool(workers: int | None = None) -> Pool:
    """The process's pool (created on first use, sized to the cores; closed at exit)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None or _SHARED._closed:
            _SHARED = Pool(workers)
            atexit.register(_SHARED.close)
        return _SHARED
