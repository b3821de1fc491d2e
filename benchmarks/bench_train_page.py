"""The Train page's quickness as a user sees it: Start -> first curve point -> the run's end.

Starts `streamlit run app.py` from one or more checkouts (`--root`, repeatable: a git worktree
of an older commit measures "before" beside the current tree's "after", with this
interpreter's streamlit), and drives headless Debian chromium with Playwright. Each repeat is a
fresh browser context (so a fresh Streamlit session): the home page, then the Train page from
the sidebar, the form as it comes (its first preset), and a click on "Start training".

Timed in the page itself (a capture listener stamps the click, a 20 ms poller stamps each
signal, all on the page's own clock, so Playwright's round trips do not count):
- `first_point_s`: a Plotly figure of the Progress section (between its heading and "Step
  by step") holds a trace with at least one point, as drawn by Plotly (its `_fullData`);
- `finished_s`: the progress bar says "Finished (...) ... in <time>";
- `added_s`: "Added to your models as ..." is shown (the model joined the session);
- `end_s`: the first of those two, the run's end as the page shows it (in a fresh tab the
  progress bar's own code loads lazily and can show after the model's caption);
- `run_s`: the run's own time, read from the "Finished" text.
`--timeline` adds each run's changes as [ms after the click, progress text | charts | points].

Repeats alternate between the roots (the order flips every repeat) so the machine's load
falls on each alike; `--warmup` runs per server come first and are printed but left out of the
medians (the first run loads the data and any worker pool). One JSON line per run and one
summary line per root with the medians and the load average.

Run: .venv/bin/python benchmarks/bench_train_page.py [--repeat 5] [--warmup 1]
     [--root /tmp/before --root .]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere
from tests.browser.appserver import (CHROMIUM, CHROMIUM_ARGS, EXCEPTION,  # noqa: E402
                                     free_port, healthy, nav_link, stop_server,
                                     streamlit_command, wait_idle)

# Installed in the page before the click: stamps the click on "Start training" and, every
# 20 ms after it, the first time each signal is seen (performance.now(), in ms).
WATCH_JS = r"""() => {
  const W = window.__bench = {t0: null, first_point: null, finished: null, added: null,
                              finished_text: null, points: 0};
  document.addEventListener('click', (e) => {
    const b = e.target.closest && e.target.closest('button');
    if (W.t0 === null && b && b.textContent.includes('Start training')) W.t0 = performance.now();
  }, true);
  const heading = (text) => [...document.querySelectorAll('h1, h2, h3, h4')]
      .find((h) => h.textContent.trim() === text);
  const after = (a, b) => !!(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING);
  const points = (tr) => (tr.visible === false ? 0 :
      (typeof tr._length === 'number' ? tr._length : (tr.x && tr.x.length) || 0));
  const section = () => {  // Streamlit's Plotly charts between "Progress" and the next section
    const start = heading('Progress');
    if (!start) return [];
    const stop = [...document.querySelectorAll('h1, h2, h3, h4')].find((h) => after(start, h)
        && ['Step by step', 'Current model'].includes(h.textContent.trim()));
    return [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
        .filter((c) => after(start, c) && (!stop || after(c, stop)));
  };
  const livePoints = () => {  // the most points of any trace drawn there
    let best = 0;
    for (const c of section())
      for (const gd of c.querySelectorAll('.js-plotly-plot'))
        for (const tr of (gd._fullData || [])) best = Math.max(best, points(tr));
    return best;
  };
  W.timeline = [];
  let last = '';
  W.timer = setInterval(() => {
    if (W.t0 === null) return;
    const now = performance.now();
    const bars = [...document.querySelectorAll('[data-testid="stProgress"] p')]
        .map((p) => p.textContent.slice(0, 40));
    const state = `${bars.join(' / ') || '-'} | charts ${section().length} | ` +
                  `points ${livePoints()}`;
    if (state !== last) { W.timeline.push([Math.round(now - W.t0), state]); last = state; }
    if (W.first_point === null) {
      const n = livePoints();
      if (n > 0) { W.first_point = now; W.points = n; }
    }
    for (const p of document.querySelectorAll('[data-testid="stProgress"] p')) {
      const t = p.textContent;
      if (W.finished === null && t.startsWith('Finished')) {
        W.finished = now;
        W.finished_text = t;
      }
    }
    if (W.added === null && [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
        .some((c) => c.textContent.includes('Added to your models as'))) W.added = now;
  }, 20);
}"""


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def run_seconds(text: str | None) -> float | None:
    """The run's own time from "Finished (done) at ... in 4.2 s" / "in 42 s" / "in 3 min 05 s"."""
    m = re.search(r" in (?:(\d+) min (\d\d) s|(\d+(?:\.\d+)?) s)\s*$", text or "")
    if not m:
        return None
    return float(m.group(3)) if m.group(3) else 60.0 * int(m.group(1)) + int(m.group(2))


@contextmanager
def app_at(root: Path, log, timeout_s: float = 60):
    """`streamlit run app.py` from the checkout `root` (this interpreter's streamlit) on a free
    port; yields (base URL, process), stopped by its process group on exit."""
    port = free_port()
    url = f"http://localhost:{port}"
    proc = subprocess.Popen(streamlit_command(port), cwd=root, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        t0 = time.perf_counter()
        while not healthy(url):
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit from {root} exited early")
            if time.perf_counter() - t0 > timeout_s:
                raise TimeoutError(f"streamlit from {root} not healthy in {timeout_s:.0f} s")
            time.sleep(0.1)
        yield url, proc
    finally:
        stop_server(proc)


def one_run(browser, url: str, run_timeout_s: float, timeline: bool = False) -> dict:
    """A fresh session: Train page, first preset, Start; the page's own timings (s)."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    ctx.set_default_timeout(60_000)
    try:
        page = ctx.new_page()
        t_open = time.perf_counter()
        page.goto(url)
        page.get_by_role("heading", name="Start here").wait_for()
        nav_link(page, "Train").first.click()
        page.get_by_role("heading", name="Train").first.wait_for()
        wait_idle(page)
        open_s = time.perf_counter() - t_open
        preset = page.get_by_label("Preset", exact=True).first
        preset_text = (preset.input_value() if preset.evaluate("e => 'value' in e")
                       else preset.inner_text()).strip()
        arch = page.get_by_text(re.compile(r"^Architecture: ")).first.inner_text()
        page.evaluate(WATCH_JS)
        page.get_by_role("button", name="Start training", exact=True).click()
        page.wait_for_function(  # both end signals, or an exception box
            "() => (window.__bench.added !== null && window.__bench.finished !== null) || "
            f"document.querySelector('{EXCEPTION}') !== null", timeout=run_timeout_s * 1000)
        w = page.evaluate("() => { clearInterval(window.__bench.timer); return window.__bench; }")
        error = page.locator(EXCEPTION).first.inner_text() if page.locator(EXCEPTION).count() \
            else None

        def since_click(key):
            if w[key] is None or w["t0"] is None:
                return None
            return round((w[key] - w["t0"]) / 1000, 3)

        ends = [t for t in (since_click("finished"), since_click("added")) if t is not None]
        return dict(preset=preset_text, form=arch.split(" · about")[0],
                    open_page_s=round(open_s, 2), first_point_s=since_click("first_point"),
                    first_point_n=w["points"], end_s=min(ends) if ends else None,
                    finished_s=since_click("finished"), added_s=since_click("added"),
                    run_s=run_seconds(w["finished_text"]), finished=w["finished_text"],
                    error=error, **(dict(timeline=w["timeline"]) if timeline else {}))
    finally:
        ctx.close()


def median(rows: list[dict], key: str):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return round(statistics.median(vals), 3) if vals else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", action="append", type=Path,
                    help="a checkout to run the app from (repeatable; default: this one)")
    ap.add_argument("--repeat", type=int, default=5, help="measured runs per root")
    ap.add_argument("--warmup", type=int, default=1, help="unmeasured first runs per server")
    ap.add_argument("--settle", type=float, default=3.0,
                    help="seconds after each server's first page (its background warm-up)")
    ap.add_argument("--run-timeout", type=float, default=120, help="seconds per run")
    ap.add_argument("--timeout", type=float, default=290, help="seconds for everything")
    ap.add_argument("--timeline", action="store_true",
                    help="add each run's timeline: [ms after the click, what the page showed]")
    args = ap.parse_args()
    roots = [r.resolve() for r in (args.root or [ROOT])]
    for r in roots:
        if not (r / "app.py").exists():
            sys.exit(f"{r} has no app.py")
    if not os.path.exists(CHROMIUM):
        sys.exit(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    procs: list[subprocess.Popen] = []

    def watchdog():  # the run ends by itself, whatever hangs
        for p in procs:
            stop_server(p)
        emit(error=f"timed out after {args.timeout:.0f} s")
        os._exit(3)

    timer = threading.Timer(args.timeout, watchdog)
    timer.daemon = True
    timer.start()
    load0 = os.getloadavg()
    t_all = time.perf_counter()
    rows: dict[Path, list[dict]] = {r: [] for r in roots}
    with sync_playwright() as p, ExitStack() as stack:
        urls = {}
        for r in roots:
            log = stack.enter_context(tempfile.NamedTemporaryFile(prefix="bench-train-page-",
                                                                  suffix=".log"))
            stack.push(lambda kind, *_, log=log: _tail_on_error(log, kind))
            url, proc = stack.enter_context(app_at(r, log))
            procs.append(proc)
            urls[r] = url
            emit(case="server", root=str(r), commit=_commit(r), url=url)
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        stack.callback(browser.close)
        for r in roots:  # the first page of each server starts its background warm-up
            ctx = browser.new_context()
            ctx.new_page().goto(urls[r])
            time.sleep(args.settle)
            ctx.close()
        for i in range(-args.warmup, args.repeat):
            order = roots if i % 2 == 0 else roots[::-1]
            for r in order:
                row = dict(case="warmup" if i < 0 else "run", root=str(r), run=i,
                           load_1min=round(os.getloadavg()[0], 2),
                           **one_run(browser, urls[r], args.run_timeout, args.timeline))
                emit(**row)
                if i >= 0:
                    rows[r].append(row)
    timer.cancel()
    for r in roots:
        emit(case="summary", root=str(r), commit=_commit(r), runs=len(rows[r]),
             median_first_point_s=median(rows[r], "first_point_s"),
             median_end_s=median(rows[r], "end_s"),
             median_finished_s=median(rows[r], "finished_s"),
             median_added_s=median(rows[r], "added_s"),
             median_run_s=median(rows[r], "run_s"),
             errors=sum(1 for x in rows[r] if x["error"]),
             load_1min_before=round(load0[0], 2), load_1min_after=round(os.getloadavg()[0], 2),
             total_s=round(time.perf_counter() - t_all, 1))


def _tail_on_error(log, kind) -> None:
    """When the run fails (`kind`: the exception's type): the end of that server's log."""
    if kind is not None:
        log.flush()
        log.seek(0)
        emit(server_log_tail=log.read().decode(errors="replace")[-2000:])


def _commit(root: Path) -> str | None:
    """The checkout's commit, and "+dirty" when its tracked files differ from it."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "diff", "--quiet", "HEAD"]).returncode
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


if __name__ == "__main__":
    main()
