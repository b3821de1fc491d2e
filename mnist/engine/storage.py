"""Where runs are recorded: an Optuna storage opened from a URL, a path, or nothing at all.

    store = open_storage()                          # runs/studies.journal (or $MNIST_STORAGE)
    store = open_storage("/data/my.journal")        # a journal file anywhere
    store = open_storage("postgresql://u:p@host/db")  # many machines: one database

- *No server by default.* Optuna's journal file storage is an append-only log that several
  processes of one machine can share (file locks), so a laptop or a Community Cloud box needs
  nothing running. Its folder (`runs/` at the project root, or `$MNIST_RUNS_DIR`) also holds the
  trained weights (Optuna stores no arrays) and the dataset cache the workers map into memory.
- *A database for many machines.* A `postgresql://` URL opens Optuna's RDB storage with a
  heartbeat: a worker that dies stops beating, and its trial is failed a few seconds later by
  whoever looks next (`HEARTBEAT_S`, `GRACE_S`). The journal has no heartbeat in Optuna 5, so
  for it the engine checks the worker's process id instead (see mnist.engine.study).
- *One line when it cannot work.* An unreachable database, a URL no driver understands, a file
  that is not a journal: `EngineError` naming the storage (password hidden), within
  `CONNECT_TIMEOUT_S`, never a hang.

A storage is opened once per process and URL (`open_storage` caches it): the journal replays
its log incrementally, and a page that polls twice a second must not re-read the whole file.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from mnist.errors import EngineError

ROOT = Path(__file__).resolve().parents[2]
RUNS_ENV = "MNIST_RUNS_DIR"  # the data folder: journal, weights, dataset cache
STORAGE_ENV = "MNIST_STORAGE"  # the default storage URL (the app and workers read it)
JOURNAL_NAME = "studies.journal"
HEARTBEAT_S = 1  # a running trial's worker writes a heartbeat this often (RDB storage)
GRACE_S = 4  # ... and is presumed dead after this long without one
CONNECT_TIMEOUT_S = 5  # an unreachable database is reported after this long, not never
LOCK_GRACE_S = 5  # a journal lock older than this is a dead writer's


def runs_dir() -> Path:
    """The data folder: `$MNIST_RUNS_DIR`, else `runs/` at the project root (created)."""
    path = Path(os.environ.get(RUNS_ENV) or ROOT / "runs").expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EngineError(f"cannot create the runs folder {path}: {e.strerror or e}") from None
    return path


def default_url() -> str:
    """`$MNIST_STORAGE` if set, else the journal file in the runs folder."""
    return os.environ.get(STORAGE_ENV) or str(runs_dir() / JOURNAL_NAME)


@dataclass(frozen=True, eq=False)
class Storage:
    """An opened storage: `url` as given (resolved), `label` to show (no password), `optuna`
    the Optuna storage object, `folder` the local folder for weights, `is_rdb` for databases."""

    url: str
    label: str
    optuna: object
    folder: Path
    is_rdb: bool


_OPEN: dict[str, Storage] = {}
_LOCK = threading.Lock()


def hide_password(url: str) -> str:
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def open_storage(url: str | os.PathLike | Storage | None = None) -> Storage:
    """The storage at `url` (see the module docstring); the same object for the same URL within
    a process. Raises EngineError if it cannot be opened."""
    if isinstance(url, Storage):
        return url
    url = os.fspath(url) if url is not None else default_url()
    if not isinstance(url, str) or not url.strip():
        raise EngineError(f"not a storage URL or path: {url!r}")
    url = url.strip()
    is_rdb = "://" in url
    key = url if is_rdb else str(Path(url).expanduser().resolve())
    with _LOCK:
        if key not in _OPEN:
            _quiet_optuna()
            _OPEN[key] = _open_rdb(key) if is_rdb else _open_journal(Path(key))
        return _OPEN[key]


def forget(url: str | None = None) -> None:
    """Drop cached storages (all, or one URL): tests that remove a database, a fresh reader."""
    with _LOCK:
        for key in [k for k in _OPEN if url is None or k == url]:
            store = _OPEN.pop(key)
            engine = getattr(getattr(store.optuna, "_backend", store.optuna), "engine", None)
            if engine is not None:
                engine.dispose()


def _quiet_optuna() -> None:
    """Optuna logs every trial at INFO on stderr; the CLI prints its own lines."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _open_journal(path: Path) -> Storage:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

    if path.is_dir():
        raise EngineError(f"{path} is a folder; give the journal file's path")
    if not path.parent.is_dir():
        if path.parent == runs_dir():  # the default: create the folder
            path.parent.mkdir(parents=True, exist_ok=True)
        else:
            raise EngineError(f"cannot open the journal {path}: folder {path.parent} does not "
                              "exist")
    _check_journal(path)
    try:
        # a worker killed while appending leaves the lock behind; others take it over after
        # LOCK_GRACE_S without a write (appends take milliseconds)
        lock = JournalFileSymlinkLock(str(path), grace_period=LOCK_GRACE_S)
        storage = JournalStorage(JournalFileBackend(str(path), lock_obj=lock))
        storage.get_all_studies()  # reads the log now: a file that is not a journal says so
    except OSError as e:
        raise EngineError(f"cannot open the journal {path}: {e.strerror or e}") from None
    except (ValueError, KeyError, TypeError) as e:
        raise EngineError(f"{path} is not an Optuna journal file ({e})") from None
    return Storage(str(path), str(path), storage, path.parent, False)


def _check_journal(path: Path) -> None:
    """A file that exists must start like a journal (one JSON operation a line): Optuna would
    take a lone bad line for a write in progress and show an empty storage."""
    import json

    try:
        with open(path, "rb") as f:
            first = f.readline(1 << 20)
    except FileNotFoundError:
        return
    except OSError as e:
        raise EngineError(f"cannot open the journal {path}: {e.strerror or e}") from None
    if not first:
        return
    try:
        ok = "op_code" in json.loads(first)
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise EngineError(f"{path} is not an Optuna journal file (its first line is not a "
                          "journal operation)")


def _open_rdb(url: str) -> Storage:
    import warnings

    import sqlalchemy.exc
    from optuna.storages import RDBStorage, get_storage

    label = hide_password(url)
    kwargs: dict = {"pool_pre_ping": True}
    if url.startswith("postgres"):
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; the driver we ship is psycopg2
    driver_url = re.sub(r"^postgres(ql)?://", "postgresql+psycopg2://", url)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the heartbeat is "experimental" in Optuna 5
            storage = RDBStorage(driver_url, engine_kwargs=kwargs,
                                 heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError, ValueError) as e:
        raise EngineError(f"not a storage URL: {label} ({_first_line(e)}); give a "
                          "postgresql:// URL or a journal file path") from None
    except ImportError as e:
        raise EngineError(f"no database driver for {label}: {_first_line(e)}") from None
    except sqlalchemy.exc.SQLAlchemyError as e:
        reason = _first_line(getattr(e, "orig", None) or e)
        raise EngineError(f"cannot reach the database {label}: {reason}") from None
    # Optuna wraps an RDB storage in a cache of finished trials: wrap once, keep the cache
    return Storage(url, label, get_storage(storage), runs_dir(), True)


def _first_line(e) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
