"""The Search page in headless chromium: a tiny search through the real page (worker processes
forked from the Streamlit server), its results, and the best run as the current model."""

from __future__ import annotations

import re

from conftest import screenshot
from tests.browser.appserver import EXCEPTION, set_number, wait_idle


def test_a_tiny_search_runs_through_the_page(page):
    page.locator('[data-testid="stSidebarNav"] a').filter(
        has_text=re.compile(r"Search\s*$")).first.click()
    page.get_by_role("heading", name="Search").first.wait_for()
    wait_idle(page, 60)
    set_number(page, "Epochs per run", 1)
    set_number(page, "Digits per run", 2000)
    assert page.get_by_text(re.compile(r"4 runs")).count() >= 1
    page.get_by_role("button", name="Start the search").click()

    # live: one progress bar per run, then the results section
    page.locator('[data-testid="stProgress"]').first.wait_for(timeout=20_000)
    page.get_by_role("heading", name="Results").wait_for(timeout=60_000)
    wait_idle(page, 60)
    assert page.locator(EXCEPTION).count() == 0
    assert page.locator('[data-testid="stProgress"]').count() == 4
    assert page.get_by_text("Best run:").count() == 1
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1
    page.get_by_text("Download results (CSV)").wait_for(timeout=20_000)  # drawn after the table
    assert page.get_by_text("Download results (CSV)").count() == 1
    screenshot(page, "search-results")
    page.locator('[data-testid="stPlotlyChart"]').nth(1).wait_for(timeout=20_000)
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 2  # curves + U-curve
    assert page.get_by_text(re.compile(r"lr=5 \(diverged\)")).count() >= 1 or \
        page.locator("text=diverged").count() >= 1

    page.get_by_role("button", name="Use as current model").click()
    wait_idle(page, 60)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text(re.compile(r"search: lr=")).first.wait_for(timeout=20_000)
    assert page.locator(EXCEPTION).count() == 0
