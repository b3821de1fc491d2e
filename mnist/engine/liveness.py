"""Which running trials have lost their worker, and failing them so the study goes on.

A worker can die without a word: killed (SIGKILL, out of memory), its machine switched off.
Its trial would then say "running" forever. Two ways to notice, one per kind of storage:

- *Database (RDB) storage:* Optuna's heartbeat. The worker writes a heartbeat every
  `HEARTBEAT_S`; a trial whose heartbeat is older than `GRACE_S` (Optuna's own test, as in
  `optuna.storages.fail_stale_trials`) is failed. Any process may do it: workers before each
  trial, readers when they look.
- *Journal file:* Optuna 5 has no heartbeat for it, and the journal is one machine's anyway.
  Each trial records its worker's host, process id and process start time (`worker_tag`);
  a reader on that host fails the trial when that process no longer exists (or is a zombie,
  or the id now belongs to a newer process).

The pool, which sees its own children die, fails their trials at once (`fail_trial`).
"""

from __future__ import annotations

import os
import socket
import threading

from optuna.trial import TrialState

from mnist.engine.storage import GRACE_S

WORKER_ATTR = "worker"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def worker_tag() -> dict:
    """This process, as recorded on the trials it runs."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": _start_time(os.getpid())}


def process_alive(tag: dict) -> bool | None:
    """Whether the worker `tag` names still runs: True/False on its own host, None elsewhere
    (we cannot tell)."""
    if not isinstance(tag, dict) or tag.get("host") != socket.gethostname():
        return None
    pid = tag.get("pid")
    if not isinstance(pid, int):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().decode(errors="replace").rsplit(")", 1)[-1].split()[0]
        if state in ("Z", "X"):  # killed, not yet reaped by its parent
            return False
    except (OSError, IndexError):
        pass
    start = tag.get("start")
    return start is None or _start_time(pid) in (None, start)


def fail_trial(storage, trial_id: int, message: str) -> bool:
    """Mark a running trial failed with `message`; False if it had already finished."""
    from optuna.exceptions import UpdateFinishedTrialError

    try:
        if storage.get_trial(trial_id).state != TrialState.RUNNING:
            return False
        storage.set_trial_user_attr(trial_id, "message", message)
        return bool(storage.set_trial_state_values(trial_id, TrialState.FAIL))
    except (UpdateFinishedTrialError, KeyError):
        return False


_lock = threading.Lock()


def heartbeat_enabled(storage) -> bool:
    """A storage with Optuna's heartbeat switched on (the RDB storage as we open it)."""
    interval = getattr(storage, "get_heartbeat_interval", None)
    return interval is not None and interval() is not None


def fail_dead_trials(ostudy) -> list[int]:
    """Fail the study's running trials whose worker is gone; the numbers of those failed."""
    storage = ostudy._storage
    failed = []
    with _lock:
        running = ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not running:
            return failed
        stale = set()
        if heartbeat_enabled(storage):  # Optuna's own test, with a message of ours
            stale = set(storage._get_stale_trial_ids(ostudy._study_id))
        for t in running:
            tag = t.user_attrs.get(WORKER_ATTR)
            if t._trial_id in stale:
                why = f"its worker stopped answering (no heartbeat for {GRACE_S} s)"
            elif process_alive(tag) is False:
                why = f"its worker process (pid {tag['pid']}) died"
            else:
                continue
            if fail_trial(storage, t._trial_id, why):
                failed.append(t.number)
    return failed
