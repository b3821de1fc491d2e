"""App cold start: `streamlit run app.py` -> the home page usable in headless chromium.

"Usable" = the home page's "Start here" heading and the sidebar navigation are drawn. Prints
one JSON line per start (health endpoint up, page usable, both from process start) and a
summary line with the medians. The goal is 5 s on the dev machine. Also measures the same with
`--server.fileWatcherType none` (what a deployment would use), for comparison.

Run: .venv/bin/python benchmarks/bench_app.py [--repeat 3]
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere
from tests.browser.appserver import (CHROMIUM, CHROMIUM_ARGS, free_port,  # noqa: E402
                                     healthy, streamlit_command)


def one_start(ctx, extra):
    port = free_port()
    url = f"http://localhost:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen(streamlit_command(port, *extra), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while not healthy(url):
            time.sleep(0.05)
        health = time.perf_counter() - t0
        page = ctx.new_page()
        page.goto(url)
        page.get_by_role("heading", name="Start here").wait_for(timeout=60_000)
        page.locator('[data-testid="stSidebarNav"]').wait_for()
        usable = time.perf_counter() - t0
        page.close()
        return health, usable
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the process group this script started
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    load = os.getloadavg()[0]
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="bench-app-"), executable_path=CHROMIUM,
            headless=True, args=CHROMIUM_ARGS)
        for name, extra in (("default", []),
                            ("no_file_watcher", ["--server.fileWatcherType", "none"])):
            usable = []
            for i in range(args.repeat):
                h, u = one_start(ctx, extra)
                usable.append(u)
                print(json.dumps(dict(case=f"cold_start_{name}", run=i, health_s=round(h, 2),
                                      usable_s=round(u, 2))), flush=True)
            print(json.dumps(dict(case=f"cold_start_{name}", median_usable_s=round(
                statistics.median(usable), 2), goal_s=5.0, load_avg_1min=round(load, 1))),
                flush=True)
        ctx.close()


if __name__ == "__main__":
    main()
