"""The Draw page in a real browser: draw a "1" and a "0" on the canvas with the mouse, see
the app predict them, press Clear and see no prediction.

Uses the `app_server` / `browser_page` fixtures of tests/browser/conftest.py when it provides
them; otherwise the compatible fixtures below start `streamlit run app.py` on a free port and
a headless Debian chromium (see /work/shared/BROWSER.md).
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def draw_server():
    """A `streamlit run app.py` of our own (stopped by its pid at the end)."""
    if not (ROOT / "models" / "default.npz").exists():
        pytest.skip("no bundled model (models/default.npz)")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://localhost:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("streamlit did not start")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def draw_page(draw_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("no chromium at /usr/bin/chromium")
    profile = tempfile.mkdtemp(prefix="mnist-draw-chromium-")
    with sync_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROME_ARGS,
            viewport={"width": 1400, "height": 1000})
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.set_default_timeout(30_000)
        page.goto(draw_server)
        page.get_by_role("link", name="Draw", exact=True).click()
        yield page
        ctx.close()
    shutil.rmtree(profile, ignore_errors=True)


def _stroke(page, points):
    page.mouse.move(*points[0])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x, y, steps=2)
    page.mouse.up()


def _prediction(page):
    return (page.locator('[data-testid="stMetric"]', has_text="Prediction")
            .locator('[data-testid="stMetricValue"]'))


def _shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _clear(page):
    page.get_by_role("button", name="Clear").click()
    sync_api = pytest.importorskip("playwright.sync_api")
    sync_api.expect(_prediction(page)).to_have_count(0, timeout=20_000)
    sync_api.expect(page.get_by_text("Draw a digit on the black canvas")).to_be_visible()
    # the new, empty canvas (only it: the old one is gone) is ready to draw on
    sync_api.expect(page.locator("canvas.upper-canvas")).to_have_count(1, timeout=20_000)
    sync_api.expect(page.locator("canvas.upper-canvas")).to_be_visible()


def test_draw_one_and_zero_then_clear(draw_page):
    from playwright.sync_api import expect

    page = draw_page
    canvas = page.locator("canvas.upper-canvas")
    # the first run loads MNIST and scores the bundled model: allow for a slow machine
    expect(canvas).to_have_count(1, timeout=90_000)
    expect(canvas).to_be_visible()
    expect(page.get_by_text("Draw a digit on the black canvas")).to_be_visible()
    expect(_prediction(page)).to_have_count(0)

    box = canvas.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    # "1": one vertical stroke down the middle
    _stroke(page, [(x0 + 0.5 * w, y0 + 0.18 * h + k * 0.064 * h) for k in range(11)])
    expect(_prediction(page)).to_have_text("1", timeout=20_000)
    _shot(page, "draw_1.png")

    _clear(page)
    canvas = page.locator("canvas.upper-canvas")
    box = canvas.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    # "0": a closed loop, a bit taller than wide
    loop = [(x0 + w * (0.5 + 0.2 * math.sin(t)), y0 + h * (0.5 - 0.3 * math.cos(t)))
            for t in [2 * math.pi * k / 28 for k in range(29)]]
    _stroke(page, loop)
    expect(_prediction(page)).to_have_text("0", timeout=20_000)
    _shot(page, "draw_0.png")

    _clear(page)
    _shot(page, "draw_cleared.png")
