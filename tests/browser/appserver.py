"""Starting the app and chromium for tests and benchmarks: one copy of the recipe.

Debian's chromium with the flags that work on these machines (../shared/BROWSER.md), a free
port, and the health probe of a `streamlit run app.py` started on it.
"""

from __future__ import annotations

import socket
import sys
import urllib.request
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
