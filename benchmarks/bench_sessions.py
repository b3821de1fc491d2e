"""Many users at once on the run engine: memory, throughput and the Train page's response,
with real browser sessions (headless Debian chromium, Playwright) on `streamlit run app.py`.

The server gets a fresh data folder (MNIST_RUNS_DIR, temporary, as on a new deployment); each
session is a new browser context. psutil measures the server and all its descendants (the
pool's spawned workers, one per core, started once the Train page is drawn; multiprocessing's
resource tracker): RSS sums resident pages, PSS counts a shared page once. A run's speed comes
from its records in the storage (its id is the page's `?run=`): `digits_per_s` = digits / time
spent training (the page's samples/s over the whole run), `wall_digits_per_s` = digits /
train()'s elapsed time; runs at once: `aggregate_digits_per_s` sums them, `union_digits_per_s`
= their digits / the span from the first start to the last end, `digits_per_worker_cpu_s` =
their digits / the workers' CPU seconds (which others' load does not change, unlike
`pool_cores_used`, the workers' CPU seconds / the runs' time). The browsers stand for users'
machines: while runs train they get the CPU the server leaves (`--browser-nice` for chromium's
session: the kernel shares CPU between sessions; the server has its own), else nice 0.
One JSON line per case, then a summary:
- `idle`: one session on the Train page, idle, the pool's workers up (each has mapped the digits cache);
- `page_idle`: a new session's Train page, the pool idle: Home -> Train in the sidebar (click
  to the Start button drawn and enabled), a reload (the same), a form change (Enter to the
  caption showing it), `--reps` times each;
- `train_1`, `train_2`, `train_3`: 1, 2, 3 sessions train the same 784-128-64-10 config at
  once, set up and started through the Train page's form: peak memory, each run's speed, CPU
  by kind of process; with 3 on 2 workers one waits (its page's first words, its wait);
- `page_busy`: two sessions train while a third's Train page is timed as above (browsers at
  nice 0), their pages are watched `BUSY_WATCH_S`, then Stop ends them.
All it starts is removed at the end, also on errors; a watchdog ends it after --timeout s.
Run: .venv/bin/python benchmarks/bench_sessions.py   (3-5 min; --help for the sizes)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere
from mnist.engine.study import open_study  # noqa: E402
from tests.browser.appserver import (CHROMIUM, CHROMIUM_ARGS, EXCEPTION,  # noqa: E402
                                     nav_link, running_app, wait_idle)

MB = 1024 * 1024
RUN_TIMEOUT_S, SETTLE_S = 300, 3.0  # the longest a case's runs may take; a pause between cases
BUSY_WATCH_S = 10  # page_busy: how long the training pages are watched before Stop
PROGRESS = '[data-testid="stProgress"] p'


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def tree(pid: int) -> list[psutil.Process]:
    try:
        p = psutil.Process(pid)
        return [p] + p.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def kind(p: psutil.Process, server: int) -> str:
    """server | workers (the pool's spawned processes) | other (the resource tracker)."""
    spawned = "spawn_main" in " ".join(p.cmdline())
    return "server" if p.pid == server else "workers" if spawned else "other"


def memory(pid: int) -> dict:
    """RSS by kind, RSS and PSS summed over the server and all its descendants (MB)."""
    out = dict(server_rss_mb=0.0, workers_rss_mb=0.0, other_rss_mb=0.0, rss_mb=0.0, pss_mb=0.0)
    for p in tree(pid):
        try:
            k, full = kind(p, pid), p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        out[f"{k}_rss_mb"] += full.rss / MB
        out["rss_mb"] += full.rss / MB
        out["pss_mb"] += getattr(full, "pss", full.rss) / MB
    return {k: round(v, 1) for k, v in out.items()}


def cpu_now(server: int, since: dict | None = None) -> dict:
    """pid -> CPU seconds so far of all this started; with `since`, the CPU spent since by kind."""
    now, served, spent = {}, {p.pid for p in tree(server)}, {}
    for p in tree(os.getpid())[1:]:
        try:
            t, k = p.cpu_times(), kind(p, server) if p.pid in served else "browser"
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        now[p.pid], key = t.user + t.system, f"cpu_{k}_s"
        spent[key] = spent.get(key, 0) + now[p.pid] - (since or {}).get(p.pid, 0)
    return now if since is None else {k: round(v, 1) for k, v in sorted(spent.items())}


def open_session(browser, url: str):
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    ctx.set_default_timeout(120_000)
    page = ctx.new_page()
    page.goto(url)
    page.get_by_role("heading", name="Start here").wait_for()
    wait_idle(page, 120)
    return ctx, page


def until_usable(page) -> None:
    """Until the Train page's Start button is drawn and enabled."""
    button = page.get_by_role("button", name="Start training", exact=True)
    button.wait_for()  # a locator: found again at each use
    while not button.is_enabled():
        page.wait_for_timeout(20)


def set_up_training(page, subset: int, epochs: int, batch: int) -> None:
    nav_link(page, "Train").first.click()
    until_usable(page)  # the form's boxes are drawn above it
    for label, value in (("Hidden layers", "128, 64"), ("Train on (digits)", subset),
                         ("Epochs", epochs), ("Batch size", batch)):
        page.get_by_label(label, exact=True).fill(str(value))
        page.get_by_label(label, exact=True).press("Enter")
        wait_idle(page, 120)
    page.get_by_text("Architecture: 784-128-64-10").wait_for()


def run_id(page) -> str:
    """The run's study id, from the page's URL (`?run=<id>`, set when Start queued it)."""
    page.wait_for_url(re.compile(r"[?&]run="))
    return re.search(r"[?&]run=([^&#]+)", page.url).group(1)


def time_page(browser, url: str, reps: int) -> dict:
    """A new session's Train page: sidebar click, reload, a form change; seconds each."""
    ctx, page = open_session(browser, url)
    times = dict(nav_to_start_s=[], reload_to_start_s=[], form_change_s=[])

    def timed(key, act, until):
        t0 = time.perf_counter()
        act()
        until()
        times[key].append(round(time.perf_counter() - t0, 2))
        wait_idle(page, 120)
    try:
        for i in range(reps):
            if i:
                nav_link(page, "Home").first.click()
                page.get_by_role("heading", name="Start here").wait_for()
            timed("nav_to_start_s", nav_link(page, "Train").first.click,
                  lambda: until_usable(page))
        for i in range(reps):
            timed("reload_to_start_s", page.reload, lambda: until_usable(page))
            value, box = 21_111 + 1_111 * i, page.get_by_label("Train on (digits)", exact=True)
            box.fill(str(value))
            timed("form_change_s", lambda: box.press("Enter"), lambda: page.get_by_text(
                f"training digits: {value:,} of").first.wait_for())
    finally:
        ctx.close()
    return {**times, **{"median_" + k.split("_")[0] + "_s": statistics.median(v)
                        for k, v in times.items()}}


def watch(pages, pid: int, peak: dict, seen: list | None = None, for_s: float = 0) -> list:
    """Polls each page's progress line until it says Finished, or for `for_s` s (`seen`: go on
    from an earlier watch): its last text, the longest it stayed the same while training."""
    from playwright.sync_api import Error as PlaywrightError

    seen = seen or [dict(finished=None, text="", at=0, gap=0) for _ in pages]
    t0 = time.monotonic()
    while any(s["finished"] is None for s in seen) and not 0 < for_s < time.monotonic() - t0:
        if time.monotonic() - t0 > RUN_TIMEOUT_S:
            raise TimeoutError(f"runs not finished after {RUN_TIMEOUT_S} s")
        peak.update({k: max(peak.get(k, 0), v) for k, v in memory(pid).items()})
        for page, s in zip(pages, seen):
            if s["finished"] is not None:
                continue
            if page.locator(EXCEPTION).count():
                raise RuntimeError("on the page: " + page.locator(EXCEPTION).first.inner_text())
            try:
                text = page.locator(PROGRESS).first.inner_text(timeout=500)
            except PlaywrightError:  # not drawn yet, or redrawn while read
                continue
            if text.startswith("Finished"):
                s["finished"] = text
            if text != s["text"]:  # the page redraws it twice a second while a run trains
                if s["text"].startswith("Training:"):
                    s["gap"] = max(s["gap"], time.monotonic() - s["at"])
                s["text"], s["at"] = text, time.monotonic()
        time.sleep(0.25)
    return seen


def wait_runs(ids, pid: int, peak: dict) -> None:
    """Until every run has finished, as the storage says (not the pages, whose browser may be
    slow: see browser_nice), and the memory's peaks meanwhile."""
    t0 = time.monotonic()
    while not all(open_study(i).trials()[0].finished for i in ids):
        if time.monotonic() - t0 > RUN_TIMEOUT_S:
            raise TimeoutError(f"runs not finished after {RUN_TIMEOUT_S} s")
        peak.update({k: max(peak.get(k, 0), v) for k, v in memory(pid).items()})
        time.sleep(0.25)


def run_figures(study_id: str) -> dict:
    """One run's figures from its records in the storage (see the module docstring)."""
    study = open_study(study_id)  # created: when Start queued it
    v, queued = study.trials()[0], study.created
    n, recs = v.attrs["sizes"]["n_train"], [r for r in v.records if r.get("event") is None]
    prev = digits = seconds = 0.0
    for r in recs:  # each record's samples/s covers the digits since the one before
        d, prev = (r["epoch"] - prev) * n, r["epoch"]
        if r.get("samples_per_s"):
            digits, seconds = digits + d, seconds + d / r["samples_per_s"]
    total, elapsed = recs[-1]["epoch"] * n, recs[-1]["elapsed"]
    return dict(status=v.status, digits=round(total), digits_per_s=round(digits / seconds),
                wall_digits_per_s=round(total / elapsed), train_s=round(elapsed, 2),
                started=v.started, train_end=v.started + elapsed, queued=queued,
                trial_s=round(v.finished_at - v.started, 2))


def case_train(browser, url, pid, n, epochs, args, name, probe=None) -> dict:
    sessions = [open_session(browser, url) for _ in range(n)]
    pages = [p for _, p in sessions]
    try:
        for page in pages:
            set_up_training(page, args.subset, epochs, args.batch_size)
        browser_nice(pid, 0)  # the clicks as close together as they can be
        before, cpu0, load0 = memory(pid), cpu_now(pid), round(os.getloadavg()[0], 2)
        for page in pages:
            page.get_by_role("button", name="Start training", exact=True).click()
        ids = [run_id(page) for page in pages]
        first = [page.locator(PROGRESS).first.inner_text() for page in pages]  # queued?
        nice, peak, seen = browser_nice(pid, 0 if probe else args.browser_nice), {}, None
        if probe:  # a third page timed; the training pages' own redraws; then Stop
            extra, seen = probe(ids), watch(pages, pid, peak, for_s=BUSY_WATCH_S)
            for page in pages:
                page.get_by_role("button", name="Stop", exact=True).dispatch_event("click")
        wait_runs(ids, pid, peak)
        cpu = cpu_now(pid, cpu0)
        browser_nice(pid, 0)  # the pages catch up
        seen = watch(pages, pid, peak, seen)
        for page in pages:
            page.get_by_text(re.compile(r"Added to your models as")).first.wait_for()
        runs = [run_figures(i) for i in ids]
    finally:
        browser_nice(pid, 0)
        for ctx, _ in sessions:
            ctx.close()
    col = {k: [r[k] for r in runs] for k in runs[0]}
    fields = dict(
        case=name, sessions=n, network="784-128-64-10", subset=args.subset, epochs=epochs,
        batch_size=args.batch_size, load_1min=load0, browser_nice=nice, status=col["status"],
        digits_per_s=col["digits_per_s"], wall_digits_per_s=col["wall_digits_per_s"],
        aggregate_digits_per_s=sum(col["digits_per_s"]),
        union_digits_per_s=round(sum(col["digits"]) / (max(col["train_end"])
                                                       - min(col["started"]))),
        overlap_s=round(max(0.0, min(col["train_end"]) - max(col["started"])), 1),
        digits_per_worker_cpu_s=round(sum(col["digits"]) / cpu["cpu_workers_s"]),
        train_s=col["train_s"], trial_s=col["trial_s"],
        waited_in_queue_s=[round(r["started"] - r["queued"], 2) for r in runs],
        first_shown=[t.split(" · ")[0].split(". ")[0] for t in first],
        longest_progress_unchanged_s=[round(s["gap"], 1) for s in seen], **cpu,
        rss_before_mb=before["rss_mb"], **{f"peak_{k}": v for k, v in peak.items()},
        **(extra if probe else {}))
    emit(**fields)
    return fields


def case_idle(browser, url, pid):
    ctx, page = open_session(browser, url)
    nav_link(page, "Train").first.click()  # the page that starts the pool (as Search does)
    until_usable(page)
    t0, size = time.perf_counter(), len(psutil.Process(pid).cpu_affinity())

    def ready(p):  # a worker maps the digits cache before it takes runs
        try:
            return kind(p, pid) == "workers" and "-test-labels" in Path(
                f"/proc/{p.pid}/maps").read_text()
        except (psutil.NoSuchProcess, OSError):
            return False
    while sum(map(ready, tree(pid))) < size:
        if time.perf_counter() - t0 > 120:
            raise TimeoutError("the pool's workers did not come up in 120 s")
        time.sleep(0.2)
    ready_s = round(time.perf_counter() - t0, 1)
    time.sleep(SETTLE_S)  # the background MNIST warm-up, the first scoring
    emit(case="idle", sessions=1, pool_workers=size, workers_ready_after_home_s=ready_s,
         **memory(pid))
    return ctx


def browser_nice(server: int, nice: int) -> int | None:
    """The CPU priority of chromium: Playwright starts it in a session of its own, and the
    kernel shares CPU between sessions (the server has one too). The browsers stand for users'
    own machines. The nice value set, None if it cannot be set."""
    sids, done = {os.getsid(0), os.getsid(server)}, None
    for p in psutil.Process().children(recursive=True):
        try:
            if (sid := os.getsid(p.pid)) not in sids:  # one write per session (autogroup)
                Path(f"/proc/{p.pid}/autogroup").write_text(str(nice))
                sids, done = sids | {sid}, nice
        except OSError:  # gone, or not allowed
            continue
    return done


def run_cases(browser, url, pid, args, cases):
    home = case_idle(browser, url, pid)
    cases["page_idle"] = dict(case="page_idle", load_1min=round(os.getloadavg()[0], 2),
                              **time_page(browser, url, args.reps))
    emit(**cases["page_idle"])

    def probe(ids):  # the timings, and the runs' statuses before and after them
        def status():
            return [open_study(i).trials()[0].status for i in ids]
        before, timed = status(), time_page(browser, url, args.reps)
        return dict(runs_before_and_after=[before, status()], **timed)
    for name, n, epochs in (("train_1", 1, args.epochs), ("train_2", 2, args.epochs),
                            ("train_3", 3, args.epochs)):
        cases[name] = case_train(browser, url, pid, n, epochs, args, name)
        time.sleep(SETTLE_S)
    cases["page_busy"] = case_train(browser, url, pid, 2, args.busy_epochs, args, "page_busy",
                                    probe)
    home.close()


def summary(cases: dict, total_s: float, load_before: float) -> None:
    out = dict(case="summary", total_s=total_s, load_1min_before=load_before,
               load_1min_after=round(os.getloadavg()[0], 2))
    one, two, three = (cases.get(k) for k in ("train_1", "train_2", "train_3"))
    if one and two:  # the goal: >= 1.6 on 2 cores
        out.update(one_alone=one["digits_per_s"], two_at_once=two["digits_per_s"], **{
            f"two_vs_one{s}": round(two[k] / one[k], 2) for s, k in (
                ("", "aggregate_digits_per_s"), ("_union", "union_digits_per_s"))},
            pool_cores_used=[round(c["cpu_workers_s"] / max(c["train_s"]), 2) for c in (one, two)],
            digits_per_worker_cpu_s=[c["digits_per_worker_cpu_s"] for c in (one, two)])
    if three:  # the goal: < 600 MB
        i = max(range(3), key=lambda i: three["waited_in_queue_s"][i])
        out.update(peak_rss_3_mb=three["peak_rss_mb"], peak_pss_3_mb=three["peak_pss_mb"],
                   queued_wait_s=three["waited_in_queue_s"][i],
                   queued_first_shown=three["first_shown"][i])
    out.update({f"{k}_{m}": cases[k][f"median_{m}_s"] for k in ("page_idle", "page_busy")
                if k in cases for m in ("nav", "reload", "form")})
    emit(**out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subset", type=int, default=30000, help="digits per run (10%% validate)")
    ap.add_argument("--epochs", type=int, default=30, help="epochs of the train_N runs")
    ap.add_argument("--busy-epochs", type=int, default=200,
                    help="epochs of page_busy's runs (they are stopped once timed)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3, help="timings of each page action")
    ap.add_argument("--browser-nice", type=int, default=19,
                    help="the browsers' CPU priority in the train cases (0 in the page cases)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds for everything")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    runs_dir = tempfile.mkdtemp(prefix="bench-sessions-runs-")
    os.environ["MNIST_RUNS_DIR"] = runs_dir  # the server's and this process's storage
    os.environ.pop("MNIST_STORAGE", None)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    server, cases, load_before, t_all = [], {}, round(os.getloadavg()[0], 2), time.perf_counter()

    def watchdog():  # the run ends by itself, whatever hangs
        for pid in server:
            os.killpg(pid, signal.SIGKILL)
        shutil.rmtree(runs_dir, ignore_errors=True)
        emit(error=f"timed out after {args.timeout:.0f} s")
        os._exit(3)

    timer = threading.Timer(args.timeout, watchdog)  # cancelled in the finally below
    timer.start()
    try:
        with running_app() as url, sync_playwright() as p:
            port = url.rsplit(":", 1)[1]  # the server: this process's child serving that port
            server.append(next(c.pid for c in psutil.Process().children()
                               if "streamlit" in " ".join(c.cmdline()) and port in c.cmdline()))
            emit(case="server_started", **memory(server[0]), load_1min=load_before,
                 cpus=os.cpu_count())
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=CHROMIUM_ARGS)
            try:
                run_cases(browser, url, server[0], args, cases)
            finally:
                browser.close()
    finally:
        timer.cancel()
        shutil.rmtree(runs_dir, ignore_errors=True)
        summary(cases, round(time.perf_counter() - t_all, 1), load_before)


if __name__ == "__main__":
    main()
