"""The Search page in headless chromium, on the run engine: a four-run learning-rate grid runs
live on the server's worker pool and ends with distinct colours and the right statuses; Cancel
shows the runs that never started as cancelled; a shared study opens in a fresh browser and
is listed by no other session; "Search this range" takes the user up to the form; a bad
storage URL is a message box."""

from __future__ import annotations

import re
import time

from conftest import screenshot
from tests.browser.appserver import EXCEPTION, nav_link, running_app, set_number, wait_idle

LONG = 120_000  # ms: a liveness bound on a shared 2-core box, not a timing claim
BARS = '[data-testid="stProgress"]'
TRACES = """gd => gd.data.filter(t => t.showlegend !== false && t.legendgroup &&
                                  t.legendgroup.startsWith('run'))
                      .map(t => ({name: t.name, color: t.line.color, mode: t.mode,
                                  dash: t.line.dash || 'solid'}))"""


def _search_page(page) -> None:
    nav_link(page, "Search").first.click()
    page.get_by_role("heading", name="Search").first.wait_for()
    wait_idle(page, 60)


def _bars(page) -> list[tuple[float, str]]:
    out = []
    for bar in page.locator(BARS).all():
        value = bar.locator('[role="progressbar"]').get_attribute("aria-valuenow")
        out.append((float(value or 0), bar.inner_text().strip()))
    return out


def _wait_bars(page, check, timeout_s: float = 120) -> list[tuple[float, str]]:
    deadline = time.monotonic() + timeout_s
    while True:
        bars = _bars(page)
        if check(bars):
            return bars
        assert time.monotonic() < deadline, bars
        page.wait_for_timeout(200)


def test_a_four_run_lr_grid_runs_live_and_ends_with_distinct_colours_and_statuses(page):
    _search_page(page)
    set_number(page, "Epochs per run", 2)
    assert page.get_by_text(re.compile(r"4 runs")).count() >= 1
    page.get_by_role("button", name="Start the search").click()
    # live: the bars move while runs train (or wait their turn in the pool's queue)
    live = _wait_bars(page, lambda bs: len(bs) == 4 and any(
        "running" in t or "queued" in t for _, t in bs))
    assert len(live) == 4
    page.get_by_role("heading", name="Results").wait_for(timeout=LONG)
    wait_idle(page, 60)
    assert page.locator(EXCEPTION).count() == 0
    bars = dict((t.split(":")[0], (v, t)) for v, t in _bars(page))
    assert set(bars) == {"lr=0.001", "lr=0.05", "lr=0.5", "lr=5"}
    for lr in ("lr=0.001", "lr=0.05", "lr=0.5"):
        assert bars[lr][0] == 100 and "done" in bars[lr][1]
    assert bars["lr=5"][0] < 100 and "diverged at epoch 1 of 2" in bars["lr=5"][1]
    # four runs, four clearly different colours, solid lines
    curves = page.locator(".js-plotly-plot").first
    traces = curves.evaluate(TRACES)
    colors = {t["name"].split(" ")[0]: t["color"] for t in traces}
    assert len(colors) == 4 and len(set(colors.values())) == 4, traces
    assert all(t["dash"] == "solid" for t in traces)
    assert page.get_by_text("Best run:").count() == 1
    page.get_by_text("Download results (CSV)").wait_for(timeout=20_000)
    screenshot(page, "search-results")
    page.get_by_role("button", name="Use as current model").click()
    wait_idle(page, 60)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text(re.compile(r"search: lr=")).first.wait_for(timeout=20_000)
    assert page.locator(EXCEPTION).count() == 0


def test_cancel_shows_the_runs_that_never_started_as_cancelled(page):
    _search_page(page)
    page.get_by_role("combobox", name="Start from").click()
    page.get_by_role("option", name="Custom search").click()
    wait_idle(page)
    set_number(page, "Epochs per run", 20)  # four learning rates: two train, two wait
    page.get_by_role("button", name="Start the search").click()
    _wait_bars(page, lambda bs: sum("running" in t for _, t in bs) >= 2)
    page.get_by_role("button", name="Cancel").click()
    bars = _wait_bars(page, lambda bs: len(bs) == 4 and not any(
        "running" in t or "queued" in t for _, t in bs), 60)
    never = [(v, t) for v, t in bars if "cancelled before it started" in t]
    stopped = [(v, t) for v, t in bars if "stopped at epoch" in t]
    assert len(never) == 2 and all(v == 0 for v, _ in never), bars  # not full bars
    assert len(stopped) == 2 and all(0 < v < 100 for v, _ in stopped), bars
    page.get_by_role("heading", name="Results").wait_for(timeout=LONG)
    assert page.locator(EXCEPTION).count() == 0
    screenshot(page, "search-cancelled")


def test_a_shared_study_opens_in_a_fresh_browser_and_no_other_session_lists_it(
        page, browser_context):
    _search_page(page)
    set_number(page, "Epochs per run", 1)
    set_number(page, "Digits per run", 2000)
    page.get_by_role("button", name="Start the search").click()
    page.get_by_role("heading", name="Results").wait_for(timeout=LONG)
    wait_idle(page, 60)
    page.get_by_role("button", name="Share this study").click()
    wait_idle(page)
    page.wait_for_url(re.compile(r"[?&]study="), timeout=20_000)
    study_id = re.search(r"[?&]study=([^&]+)", page.url).group(1)
    link = page.locator('[data-testid="stCode"]', has_text=f"study={study_id}").first
    link.wait_for()
    url = link.inner_text().strip()
    assert url.endswith(f"?study={study_id}") and url.startswith("http")
    # a fresh browser context (no cookies, no storage, a new session) opens the link
    fresh = browser_context.browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        other = fresh.new_page()
        other.goto(url)
        other.get_by_role("heading", name="Results").wait_for(timeout=LONG)
        wait_idle(other, 60)
        assert other.get_by_text("Best run:").count() == 1
        _wait_bars(other, lambda bs: len(bs) == 4 and all("done" in t or "diverged" in t
                                                          for _, t in bs))
        assert other.get_by_text(study_id).count() >= 1  # in its "My studies" now
        assert other.locator(EXCEPTION).count() == 0
        screenshot(other, "search-shared")
    finally:
        fresh.close()
    # another session that was not given the link does not list the study
    third = browser_context.new_page()
    try:
        third.goto(url.split("?")[0])
        third.get_by_role("heading", name="My studies").wait_for(timeout=LONG)
        wait_idle(third, 60)
        assert third.get_by_text(study_id).count() == 0
        assert third.get_by_text("Studies you start in this session are listed here").count() == 1
    finally:
        third.close()


def test_search_this_range_takes_the_user_up_to_the_form(page):
    _search_page(page)
    page.get_by_role("button", name="Run the range test").click()
    button = page.get_by_role("button", name="Search this range")
    button.wait_for(timeout=LONG)
    wait_idle(page, 60)
    button.scroll_into_view_if_needed()
    heading = page.get_by_role("heading", name="What to compare")
    assert not _in_view(page, heading)  # far above the button
    button.click()
    wait_idle(page)
    page.get_by_text("Search form set").first.wait_for(timeout=10_000)  # the toast
    deadline = time.monotonic() + 10
    while not _in_view(page, heading):
        assert time.monotonic() < deadline, "the page did not move up to the form"
        page.wait_for_timeout(200)
    assert page.get_by_label("learning rate: values, comma separated", exact=True).count() == 1
    assert page.get_by_text(re.compile(r"now compares 4 learning rates")).count() == 1


def _in_view(page, locator) -> bool:
    box = locator.bounding_box()
    return box is not None and 0 <= box["y"] <= page.viewport_size["height"] - 20


def test_a_bad_storage_url_is_a_message_box(browser_context):
    with running_app(env={"MNIST_STORAGE": "nonsense://not-a-database"}) as url:
        page = browser_context.new_page()
        try:
            page.goto(url + "/search")
            alert = page.locator('[data-testid="stAlert"]', has_text="Searches cannot be stored")
            alert.wait_for(timeout=LONG)
            assert "not a storage URL" in alert.inner_text()
            assert nav_link(page, "Home").count() >= 1  # the app's router, even as first request
            assert page.locator(EXCEPTION).count() == 0
            assert page.get_by_role("button", name="Start the search").count() == 0
        finally:
            page.close()
