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
import tempfile
import time
from pathlib import Path

import pytest




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
