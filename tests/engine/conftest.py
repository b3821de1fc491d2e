"""Fixtures of the engine tests: a real PostgreSQL server, tiny configs, a journal per test.

`pg_url` starts Debian's PostgreSQL (package `postgresql`; scripts/setup.sh --dev installs it)
for the session: initdb into a temporary folder, a free port on 127.0.0.1, run as a non-root
user (as root: the `postgres` system user, created if missing), a database created, and all of
it removed at the end. A machine without PostgreSQL fails these tests with the reason: they
are not skipped, a missing server is a broken dependency.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from mnist.training.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
# small and quick: a few hundred digits, a one-layer net
TINY = TrainConfig(hidden=(16,), epochs=2, subset=400, batch_size=32, lr=0.1, optimizer="sgd",
                   val_fraction=0.25, seed=0)


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found and shutil.which("pg_config"):
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout
        found = [str(Path(bindir.strip()) / "initdb")] if bindir.strip() else []
    if not found or not Path(found[-1]).exists():
        pytest.fail("PostgreSQL is not installed (initdb not found): run scripts/setup.sh --dev "
                    "or apt-get install postgresql")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user(user: str | None, cmd: list[str]) -> list[str]:
    return cmd if user is None else ["runuser", "-u", user, "--", *cmd]


@pytest.fixture(scope="session")
def pg_url():
    import psycopg2

    bindir = _pg_bin()
    user = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = "postgres"
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", user], check=True)
    folder = Path(tempfile.mkdtemp(prefix="mnist-pg-"))
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(folder, pw.pw_uid, pw.pw_gid)
    data, port = folder / "data", _free_port()
    subprocess.run(_as_user(user, [str(bindir / "initdb"), "-D", str(data), "-U", "mnist",
                                   "--auth=trust", "-E", "UTF8", "--no-sync"]),
                   check=True, capture_output=True)
    log = open(folder / "log", "wb")  # noqa: SIM115 - closed at the end
    server = subprocess.Popen(_as_user(user, [
        str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(folder),
        "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=100"]),
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=port, user="mnist",
                                        dbname="postgres", connect_timeout=2)
                break
            except psycopg2.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("PostgreSQL did not start: "
                                + (folder / "log").read_text(errors="replace")[-2000:])
                time.sleep(0.1)
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE mnist_test")
        conn.close()
        yield f"postgresql://mnist:secret@127.0.0.1:{port}/mnist_test"
    finally:
        from mnist.engine.storage import forget

        forget()  # close our connections before the server goes
        subprocess.run(_as_user(user, [str(bindir / "pg_ctl"), "-D", str(data), "-m",
                                       "immediate", "-w", "stop"]), capture_output=True)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def journal(tmp_path):
    """A journal file of its own for one test."""
    return str(tmp_path / "studies.journal")


def start_worker(storage: str, study_id: str, *extra: str) -> subprocess.Popen:
    """`python -m mnist worker` as a machine would start it (its own process, our env)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "mnist", "worker", "--storage", storage,
                             "--study", study_id, *extra], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(check, timeout: float = 60.0, every: float = 0.05):
    """Poll `check()` until it returns something true (a liveness bound, not a timing claim)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {check}")
        time.sleep(every)
