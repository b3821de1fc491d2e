"""Browser-test fixtures: one `streamlit run app.py` per test session, headless Debian chromium.

- `app_server`: starts the app on a free port, polls /_stcore/health, opens the home page in
  the browser and records the cold start (process start -> home page usable); killed (by its
  pid) when the session ends.
- `page`: a new tab (so a new Streamlit session) on the app's home page.
Tests skip, with the reason, only when /usr/bin/chromium or playwright is missing.
Set MNIST_SCREENSHOTS=/some/dir to save screenshots of what the tests see.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.browser.appserver import CHROMIUM, CHROMIUM_ARGS, running_app

USABLE_TIMEOUT_S = 60  # generous: the goal (5 s) is reported, a slow CI box should not flake
RESULTS: dict = {}


def _skip_reason() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -r requirements-dev.txt)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _skip_reason()
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def browser_context():
    from playwright.sync_api import sync_playwright

    user_dir = tempfile.mkdtemp(prefix="mnist-chromium-")
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            user_dir, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1000})
        ctx.set_default_timeout(30_000)
        yield ctx
        ctx.close()
    shutil.rmtree(user_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def app_server(browser_context):
    """The app's base URL; `RESULTS["cold_start_s"]` = process start -> home page usable."""
    t0 = time.perf_counter()
    with running_app(timeout_s=USABLE_TIMEOUT_S) as url:
        t_health = time.perf_counter() - t0
        page = browser_context.new_page()
        page.goto(url)
        # usable = the home page's content and the sidebar's navigation are drawn
        page.get_by_role("heading", name="Start here").wait_for(timeout=USABLE_TIMEOUT_S * 1000)
        page.locator('[data-testid="stSidebarNav"]').wait_for()
        t_usable = time.perf_counter() - t0
        page.close()
        RESULTS.update(cold_start_health_s=round(t_health, 2), cold_start_s=round(t_usable, 2))
        yield url


@pytest.fixture
def page(browser_context, app_server):
    p = browser_context.new_page()
    p.goto(app_server)
    p.get_by_role("heading", name="Start here").wait_for()
    yield p
    p.close()


def screenshot(page, name: str) -> None:
    out = os.environ.get("MNIST_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(out) / f"{name}.png"), full_page=True)


def pytest_terminal_summary(terminalreporter):
    if RESULTS:
        terminalreporter.write_line("MNIST Lab browser timings: " + json.dumps(RESULTS))


@pytest.fixture
def browser_page(page):
    """Alias of `page` (a new session on the home page)."""
    return page
