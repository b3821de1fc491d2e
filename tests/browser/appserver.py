"""Starting the app and chromium for tests and benchmarks: one copy of the recipe.

Debian's chromium with the flags that work on these machines (../shared/BROWSER.md), a free
port, the health probe and the stop of a `streamlit run app.py` started on it, and the few
helpers every browser test and benchmark uses to drive a page.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    """True once the Streamlit server at `url` answers its health endpoint."""
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def streamlit_command(port: int, *extra: str) -> list[str]:
    """`streamlit run app.py` headless on `port`, from this interpreter's environment."""
    streamlit = Path(sys.executable).with_name("streamlit")
    launcher = [str(streamlit)] if streamlit.exists() else [sys.executable, "-m", "streamlit"]
    return [*launcher, "run", "app.py", "--server.headless", "true", "--server.port",
            str(port), "--browser.gatherUsageStats", "false", *extra]


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server started with `start_new_session=True`: its whole process group."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@contextmanager
def running_app(env: dict | None = None, timeout_s: float = 60):
    """A `streamlit run app.py` of its own on a free port (with `env` added to the environment),
    healthy when this yields its base URL, stopped by its process group on exit."""
    port = free_port()
    url = f"http://localhost:{port}"
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(streamlit_command(port), cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        t0 = time.perf_counter()
        while not healthy(url):
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError("streamlit exited early:\n" + log.read().decode(errors="replace"))
            if time.perf_counter() - t0 > timeout_s:
                raise TimeoutError(f"streamlit did not become healthy in {timeout_s:.0f} s")
            time.sleep(0.1)
        yield url
    finally:
        stop_server(proc)
        log.close()


# -------------------------------------------------------------------------- driving a page
EXCEPTION = '[data-testid="stException"]'  # Streamlit's box for an uncaught exception


def wait_idle(page, timeout_s: float = 60) -> None:
    """Until Streamlit has finished the current run (its status widget is gone)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden",
                                                          timeout=timeout_s * 1000)


def nav_link(page, title: str):
    """The sidebar links to the page `title` (a link's text is its icon's name, then the
    title: "grid_view Dataset")."""
    return page.locator('[data-testid="stSidebarNav"] a').filter(
        has_text=re.compile(rf"{re.escape(title)}\s*$"))


def set_number(page, label: str, value) -> None:
    """Type `value` into the number input labelled `label` and wait for the rerun."""
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)
