"""Many users at once: the server's memory with real browser sessions on a real app.

Starts `streamlit run app.py` on a free port (as tests/browser/conftest.py does), drives
headless Debian chromium with Playwright (one browser, a new context and page per session, so
one Streamlit session each) and measures the server's memory with psutil: the server process
plus its children (the search's worker processes), as RSS and as PSS (proportional set size:
pages a forked worker shares with the server are counted once, not twice).

Cases, one JSON line each:
- `idle_home`: one session idle on the Home page (goal: RSS < 300 MB);
- `train_1`, `train_2`, `train_3`: 1, 2 then 3 new sessions each train a 784-128-64-10
  network at the same time, set up through the Train page's form (about 15-50 s a run here);
  the peak while they train, what each active session adds (goal: < 60 MB per session) and
  each run's speed;
- `search`: one session runs a small learning-rate search on the Search page (worker
  processes forked from the server); the peak while it runs and what is left after.

Everything it starts (server, browser) is stopped at the end, also on errors, and a watchdog
ends the whole run after --timeout seconds.

Run: .venv/bin/python benchmarks/bench_sessions.py [--subset 30000] [--epochs 4] [--timeout 900]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere
from tests.browser.appserver import (CHROMIUM, CHROMIUM_ARGS, free_port,  # noqa: E402
                                     healthy, stop_server, streamlit_command, wait_idle)

MB = 1024 * 1024


# ============================================================================ the server
def start_server(log) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://localhost:{port}"
    proc = subprocess.Popen(streamlit_command(port), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    t0 = time.perf_counter()
    while not healthy(url):
        if proc.poll() is not None:
            raise RuntimeError("streamlit exited early (see its log)")
        if time.perf_counter() - t0 > 60:
            raise RuntimeError("streamlit did not become healthy within 60 s")
        time.sleep(0.1)
    return proc, url


# ============================================================================ memory
def memory(pid: int) -> dict:
    """RSS of the server, RSS and PSS summed over the server and its children (MB)."""
    server = psutil.Process(pid)
    procs = [server] + server.children(recursive=True)
    rss = pss = 0
    for p in procs:
        try:
            full = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += full.rss
        pss += getattr(full, "pss", full.rss)
    return dict(server_rss_mb=round(server.memory_info().rss / MB, 1),
                rss_mb=round(rss / MB, 1), pss_mb=round(pss / MB, 1),
                processes=len(procs))


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by the server process."""
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


class PeakSampler:
    """Samples `memory(pid)` in a thread every `every` seconds; keeps the peaks."""

    def __init__(self, pid: int, every: float = 0.5):
        self.pid, self.every = pid, every
        self.peak: dict = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            try:
                m = memory(self.pid)
            except psutil.NoSuchProcess:
                return
            for k, v in m.items():
                self.peak[k] = max(self.peak.get(k, 0), v)
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


# ============================================================================ the pages
def open_session(browser, url: str):
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    ctx.set_default_timeout(60_000)
    page = ctx.new_page()
    page.goto(url)
    page.get_by_role("heading", name="Start here").wait_for()
    page.locator('[data-testid="stSidebarNav"]').wait_for()
    return ctx, page


def open_page(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a').filter(
        has_text=re.compile(rf"{re.escape(title)}\s*$")).first.click()
    page.get_by_role("heading", name=title).first.wait_for()
    wait_idle(page, 120)


def set_field(page, label: str, value) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page, 120)


def set_up_training(page, subset: int, epochs: int, batch: int) -> None:
    open_page(page, "Train")
    set_field(page, "Hidden layers", "128, 64")
    set_field(page, "Train on (digits)", subset)
    set_field(page, "Epochs", epochs)
    set_field(page, "Batch size", batch)
    page.get_by_text("Architecture: 784-128-64-10").wait_for()


def finished_text(page, timeout_s: float) -> str:
    done = page.locator('[data-testid="stProgress"] p').filter(has_text=re.compile(r"^Finished"))
    done.first.wait_for(timeout=timeout_s * 1000)
    return done.first.inner_text()


def run_seconds(text: str) -> float | None:
    """The run's duration from "Finished (done) ... in 45 s" or "... in 1:05"."""
    m = re.search(r" in (?:(\d+):(\d\d)|(\d+(?:\.\d+)?) s)\s*$", text)
    if not m:
        return None
    return float(m.group(3)) if m.group(3) else 60.0 * int(m.group(1)) + int(m.group(2))


# ============================================================================ the cases
def case_idle_home(browser, url, pid, settle_s):
    ctx, page = open_session(browser, url)
    wait_idle(page)
    time.sleep(settle_s)  # the background MNIST warm-up, the first scoring
    emit(case="idle_home", sessions=1, **memory(pid), goal_rss_mb=300)
    return ctx


def case_train(browser, url, pid, n, args, baseline):
    sessions = [open_session(browser, url) for _ in range(n)]
    try:
        for _, page in sessions:
            set_up_training(page, args.subset, args.epochs, args.batch_size)
        before = memory(pid)
        cpu0 = cpu_seconds(pid)
        t0 = time.perf_counter()
        with PeakSampler(pid) as sampler:
            for _, page in sessions:  # as close together as the clicks allow
                page.get_by_role("button", name="Start training", exact=True).click()
            for _, page in sessions:
                page.locator('[data-testid="stProgress"]').first.wait_for(
                    timeout=args.run_timeout * 1000)
            texts = [finished_text(page, args.run_timeout) for _, page in sessions]
            wall = time.perf_counter() - t0
            cpu = cpu_seconds(pid) - cpu0
        for _, page in sessions:
            page.get_by_text(re.compile(r"Added to your models as")).first.wait_for(
                timeout=60_000)
        after = memory(pid)
        seconds = [run_seconds(t) for t in texts]
        digits = round(args.subset * 0.9) * args.epochs  # the Train form holds out 10%
        speed = [round(digits / s) if s else None for s in seconds]
        peak = sampler.peak
        emit(case=f"train_{n}", sessions=n, network="784-128-64-10", subset=args.subset,
             epochs=args.epochs, batch_size=args.batch_size, run_s=seconds,
             digits_per_s=speed,
             wall_s=round(wall, 1), server_cpu_s=round(cpu, 1),
             machine_cpu_s=round(wall * (os.cpu_count() or 1), 1), finished=[t.split(" at ")[0] for t in texts],
             rss_before_mb=before["rss_mb"], peak_rss_mb=peak["rss_mb"],
             peak_pss_mb=peak["pss_mb"], rss_after_mb=after["rss_mb"],
             added_per_active_session_mb=round((peak["rss_mb"] - before["rss_mb"]) / n, 1),
             peak_over_idle_home_per_session_mb=round((peak["rss_mb"] - baseline) / n, 1),
             goal_per_session_mb=60)
    finally:
        for ctx, _ in sessions:
            ctx.close()


def case_search(browser, url, pid, args):
    ctx, page = open_session(browser, url)
    try:
        open_page(page, "Search")
        set_field(page, "Epochs per run", args.search_epochs)
        set_field(page, "Digits per run", args.search_subset)
        runs = page.get_by_text(re.compile(r"^\d+ runs? of")).first.inner_text()
        before = memory(pid)
        t0 = time.perf_counter()
        with PeakSampler(pid, every=0.25) as sampler:
            page.get_by_role("button", name="Start the search").click()
            page.get_by_role("heading", name="Results").wait_for(timeout=args.run_timeout * 1000)
            wall = time.perf_counter() - t0
        wait_idle(page, 120)
        time.sleep(2)  # the workers have exited
        after = memory(pid)
        peak = sampler.peak
        emit(case="search", sessions=1, runs=runs.split(" of")[0], epochs=args.search_epochs,
             subset=args.search_subset, wall_s=round(wall, 1),
             rss_before_mb=before["rss_mb"], peak_rss_mb=peak["rss_mb"],
             peak_pss_mb=peak["pss_mb"], peak_processes=peak["processes"],
             rss_after_mb=after["rss_mb"], pss_after_mb=after["pss_mb"],
             processes_after=after["processes"])
    finally:
        ctx.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subset", type=int, default=30000, help="digits per training run")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--sessions", default="1,2,3", help="numbers of training sessions")
    ap.add_argument("--search-epochs", type=int, default=2)
    ap.add_argument("--search-subset", type=int, default=10000)
    ap.add_argument("--run-timeout", type=float, default=300, help="seconds per case")
    ap.add_argument("--timeout", type=float, default=900, help="seconds for everything")
    ap.add_argument("--settle", type=float, default=5.0)
    args = ap.parse_args()
    if not os.path.exists(CHROMIUM):
        sys.exit(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    log = tempfile.NamedTemporaryFile(prefix="bench-sessions-", suffix=".log", delete=False)
    proc = None

    def watchdog():  # the run ends by itself, whatever hangs
        if proc is not None:
            stop_server(proc)
        print(json.dumps(dict(error=f"timed out after {args.timeout:.0f} s")), flush=True)
        os._exit(3)

    timer = threading.Timer(args.timeout, watchdog)
    timer.daemon = True
    timer.start()
    load_before = os.getloadavg()
    t_all = time.perf_counter()
    try:
        proc, url = start_server(log)
        emit(case="server_started", **memory(proc.pid), load_1min=round(load_before[0], 2),
             cpus=os.cpu_count())
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=CHROMIUM_ARGS)
            try:
                home = case_idle_home(browser, url, proc.pid, args.settle)
                baseline = memory(proc.pid)["rss_mb"]
                for n in [int(s) for s in args.sessions.split(",") if s]:
                    case_train(browser, url, proc.pid, n, args, baseline)
                    time.sleep(args.settle)
                case_search(browser, url, proc.pid, args)
                home.close()
                time.sleep(args.settle)
                emit(case="end", **memory(proc.pid))
            finally:
                browser.close()
    except Exception as e:
        log.flush()
        tail = Path(log.name).read_text(errors="replace")[-2000:]
        emit(error=f"{type(e).__name__}: {e}", server_log_tail=tail)
        raise
    finally:
        if proc is not None:
            stop_server(proc)
        timer.cancel()
        log.close()
        os.unlink(log.name)
        emit(case="summary", total_s=round(time.perf_counter() - t_all, 1),
             load_1min_before=round(load_before[0], 2),
             load_1min_after=round(os.getloadavg()[0], 2))


if __name__ == "__main__":
    main()
