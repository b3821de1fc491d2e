"""Shared by the page tests: AppTest runners, small in-memory data files (CSV, IDX) built
from the bundled MNIST, and a worker pool kept busy by other users' runs."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import struct
import time
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

import mnist

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60


@contextlib.contextmanager
def busy_pool(wait: float = 120):
    """Every worker of the server's pool (ui.studies) busy, for the duration, with another
    user's long run that has started (each has its first record); they stop at the end.
    Yields those runs."""
    from mnist.engine.job import start_job
    from ui import studies

    pool = studies.pool()
    others = [start_job(mnist.TrainConfig(hidden=(8,), epochs=500, subset=2000, batch_size=16),
                        name=f"other {i}", owner=f"other-{i}", pool=pool)
              for i in range(pool.size)]
    try:
        deadline = time.time() + wait
        while not all(o.records for o in others) and time.time() < deadline:
            time.sleep(0.05)
        assert all(o.status == "running" for o in others)
        yield others
    finally:
        for o in others:
            o.stop()
        for o in others:
            o.wait(wait)


def page(name: str) -> AppTest:
    """An AppTest of one page file (pages/<name>.py), not yet run."""
    return AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=TIMEOUT)


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)


def script(fn, **kwargs) -> AppTest:
    """An AppTest running `fn(**kwargs)` as the script (to call ui functions in a session)."""
    return AppTest.from_function(fn, default_timeout=TIMEOUT, kwargs=kwargs or None)


def model_session_script(describe: bool = False):
    """An AppTest script over the session's models: uploads what the test put in
    session_state["upload"] (name, bytes), then records the problem, the model names and the
    current one (and, with `describe`, how the current one is described and its accuracy)."""
    import streamlit as st

    from ui import session

    if "upload" in st.session_state:
        name, raw = st.session_state.pop("upload")
        st.session_state["problem"] = session.use_uploaded_model(name, raw)
    st.session_state["names"] = list(session.models())
    cur = session.current()
    st.session_state["cur"] = cur.name if cur else None
    if describe and cur is not None:
        st.session_state["described"] = (cur.kind, cur.architecture, cur.describe(),
                                         cur.members())
        st.session_state["acc"] = session.evaluation(cur)["test_acc"]


def errors(at) -> list[str]:
    return [e.value for e in at.error]


def no_exception(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def csv_bytes(n: int = 200, start: int = 0) -> bytes:
    """n MNIST training digits as "label,pixel0..pixel783" rows, with a header."""
    train, _ = mnist.load_mnist()
    rows = np.column_stack([train.labels[start:start + n], train.flat[start:start + n]])
    out = io.StringIO()
    out.write("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n")
    np.savetxt(out, rows, fmt="%d", delimiter=",")
    return out.getvalue().encode()


def idx_pair(n: int = 100, start: int = 0) -> tuple[bytes, bytes]:
    """(images, labels) IDX files of n MNIST training digits."""
    train, _ = mnist.load_mnist()
    img = struct.pack(">IIII", 0x803, n, 28, 28) + train.images[start:start + n].tobytes()
    lab = struct.pack(">II", 0x801, n) + train.labels[start:start + n].tobytes()
    return img, lab


def figures(at) -> list[dict]:
    """The Plotly figures an AppTest run drew, as JSON dicts."""
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def plotly_array(v) -> np.ndarray:
    """A Plotly JSON array: a list, or a typed array {"dtype", "bdata" (base64), "shape"}."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return a.reshape([int(s) for s in str(v["shape"]).split(",")]) if "shape" in v else a
    return np.asarray(v)
