"""This session's studies on the run engine: where they are stored, the server's one worker
pool, which studies this session may see, and starting, stopping and sharing them.

    problem = storage_problem()          # None, or a one-line message for a message box
    study = start(space=..., base=..., sampler="grid", pruner="none")  # queued on the pool
    current()                            # the study the Search page shows (or None)
    my_studies()                         # summaries of the studies this session made or opened
    open_by_id(text)                     # -> Study; EngineError names an unknown id
    stop(study)                          # running runs end (weights kept), queued ones never start
    resume(study)                        # its waiting / cancelled runs queued again
    data_key()                           # the data a study of this session trains on

*Storage.* `$MNIST_STORAGE` (the variable the engine reads) or Streamlit's secret `storage`, else
the engine's default journal in the runs folder. A URL that cannot be opened is reported as a
message (and not retried for `RETRY_S`, so a dead database does not cost every rerun its
connection timeout).

*Privacy.* Each session has an unguessable owner tag; studies are created under it and the
session lists only its own (`list_studies(owner=...)`) and those it opened by id. Reopening a
study in another session takes its id: the "share" link puts it in the URL (`?study=<id>`).

*One pool.* `pool()` is the engine's `shared_pool()` (spawned worker processes sized to the
cores), kept in `st.cache_resource`: every session's runs take turns on it.
"""

from __future__ import annotations

import os
import secrets
import time

import streamlit as st

from mnist.engine.datacache import save_dataset
from mnist.engine.pool import Pool, shared_pool
from mnist.engine.storage import STORAGE_ENV, Storage, hide_password, open_storage
from mnist.engine.study import Study, StudySummary, list_studies, open_study
from mnist.errors import EngineError
from ui import data

OWNER_KEY = "_sr_owner"  # this session's owner tag
IDS_KEY = "_sr_study_ids"  # ids of the studies this session made or opened, newest last
CURRENT_KEY = "_sr_current"  # the id of the study the page shows
OBJECTS_KEY = "_sr_study_objects"  # id -> Study (opened once per session)
RETRY_S = 30.0  # a storage that failed is tried again after this long
_FAILED: dict[str, tuple[float, str]] = {}  # url -> (when, message), for every session


def storage_url() -> str | None:
    """The storage URL the app uses: `$MNIST_STORAGE`, else the `storage` secret, else None
    (the engine's default journal)."""
    url = os.environ.get(STORAGE_ENV)
    if url:
        return url
    try:
        url = st.secrets.get("storage")
    except Exception:  # no secrets file at all: the default
        url = None
    return str(url) if url else None


def storage() -> Storage:
    """The opened storage; EngineError (one line) if it cannot be used."""
    url = storage_url()
    key = url or ""
    failed = _FAILED.get(key)
    if failed is not None and time.monotonic() - failed[0] < RETRY_S:
        raise EngineError(failed[1])
    try:
        store = open_storage(url)
    except EngineError as e:
        _FAILED[key] = (time.monotonic(), str(e))
        raise
    _FAILED.pop(key, None)
    return store


def storage_problem() -> str | None:
    """Why studies cannot be stored now (a message for a message box), or None."""
    try:
        storage()
    except EngineError as e:
        return str(e)
    except Exception as e:  # a driver's own error type: still one line, no traceback
        return f"cannot open the storage {hide_password(storage_url() or '')}: {e}"
    return None


@st.cache_resource(show_spinner=False)
def pool() -> Pool:
    """The server's one pool of spawned worker processes, shared by every session."""
    return shared_pool()


def owner() -> str:
    """This session's owner tag (unguessable; dies with the session)."""
    if OWNER_KEY not in st.session_state:
        st.session_state[OWNER_KEY] = "app-" + secrets.token_urlsafe(12)
    return st.session_state[OWNER_KEY]


# ---------------------------------------------------------------------------- this session's
def ids() -> list[str]:
    return list(st.session_state.get(IDS_KEY, []))


def remember(study: Study) -> None:
    """Add a study to this session's list and make it the one shown."""
    st.session_state.setdefault(OBJECTS_KEY, {})[study.id] = study
    known = [i for i in ids() if i != study.id]
    st.session_state[IDS_KEY] = known + [study.id]
    st.session_state[CURRENT_KEY] = study.id


def get(study_id: str) -> Study:
    """A study by id, opened once per session (EngineError if there is none)."""
    objects = st.session_state.setdefault(OBJECTS_KEY, {})
    if study_id not in objects:
        store = storage()
        try:
            objects[study_id] = open_study(study_id, store)
        except EngineError as e:  # said without the server's paths
            raise EngineError(str(e).replace(f" in {store.label}", " here")) from None
    return objects[study_id]


def current() -> Study | None:
    sid = st.session_state.get(CURRENT_KEY)
    if not sid:
        return None
    try:
        return get(sid)
    except EngineError:
        return None


def open_by_id(text: str) -> Study:
    """Open a study by its id (as typed or pasted: spaces trimmed) and show it."""
    sid = (text or "").strip()
    if not sid:
        raise EngineError("type or paste a study's id")
    study = get(sid)
    remember(study)
    return study


def my_studies() -> list[StudySummary]:
    """This session's studies, newest first: those it created (by its owner tag) and those
    it opened by id."""
    mine = {s.id: s for s in list_studies(storage(), owner=owner())}
    for sid in ids():
        if sid not in mine:
            try:
                s = get(sid)
            except EngineError:
                continue
            best = s.best()
            mine[sid] = StudySummary(s.id, s.title, s.owner, s.sampler, s.pruner, s.n_trials,
                                     s.created, best.value if best else None)
    return sorted(mine.values(), key=lambda s: -s.created)


# ---------------------------------------------------------------------------- running
def data_key() -> str:
    """A study's data: "mnist", or this session's upload saved for the workers (once)."""
    if not data.is_uploaded():
        return "mnist"
    token = data.data_token()
    saved = st.session_state.get("_sr_data_key")
    if not saved or saved[0] != token:
        train, test = data.active_data()
        saved = (token, save_dataset(train, test))
        st.session_state["_sr_data_key"] = saved
    return saved[1]


def start(*, title: str, **plan) -> Study:
    """Create a study under this session's owner tag (mnist.engine.study.create_study's
    arguments) and queue its runs on the shared pool."""
    from mnist.engine.study import create_study

    study = create_study(owner=owner(), title=title, storage=storage(), **plan)
    remember(study)
    pool().submit(study, owner=owner())
    return study


def stop(study: Study) -> None:
    """Stop a study: its running trials end at their next poll (weights kept), its queued
    ones are dropped from the pool and show as cancelled."""
    study.stop()
    pool().cancel(study.id)


def resume(study: Study) -> int:
    """Queue a study's waiting runs on this server's pool again (a stopped study's cancelled
    runs, or runs queued by a server that has restarted since); how many were queued."""
    study.resume()
    return pool().submit(study, owner=owner())


def queue_places(study: Study) -> list[int]:
    """Places in the pool's queue of the study's waiting trials, in trial order (1 = next)."""
    return pool().positions(study.id)


def share_link(study_id: str) -> str:
    """A link that opens the study in any session (`?study=<id>` on this page's address)."""
    url = st.context.url or ""
    base = url.split("?", 1)[0]
    return f"{base}?study={study_id}"
