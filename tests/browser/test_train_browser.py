"""The real app in headless chromium: every page opens from the sidebar; a training run shows
live curves and stops on Stop, keeping its model; a digit clicked on the Dataset grid shows up
close. The cold start (process start -> home page usable) is measured by the app_server
fixture and printed in the terminal summary."""

from __future__ import annotations

import re
import time

from conftest import RESULTS, screenshot
from tests.browser.appserver import EXCEPTION, nav_link, set_number, wait_idle

PAGES = ["Home", "Dataset", "Train", "Search", "Mistakes", "Draw", "Inside the network"]


def test_cold_start_recorded(app_server):
    # the fixture measured it; the goal is 5 s on the dev machine (reported, not asserted
    # tightly: CI boxes vary)
    assert RESULTS["cold_start_s"] < 60
    print(f"cold start to usable home page: {RESULTS['cold_start_s']} s "
          f"(health endpoint after {RESULTS['cold_start_health_s']} s)")


def test_every_page_opens_from_the_sidebar(page):
    listed = [t for t in PAGES if nav_link(page, t).count()]
    assert listed[:3] == ["Home", "Dataset", "Train"], listed
    for title in listed:
        nav_link(page, title).first.click()
        heading = "MNIST Lab" if title == "Home" else title
        page.get_by_role("heading", name=heading, exact=False).first.wait_for()
        wait_idle(page, 60)
        assert page.locator(EXCEPTION).count() == 0, f"exception on the {title} page"
        screenshot(page, f"page-{title.lower().replace(' ', '-')}")


def test_training_shows_live_curves_and_stops(page):
    nav_link(page, "Train").first.click()
    page.get_by_role("heading", name="Train").first.wait_for()
    wait_idle(page)
    hidden = page.get_by_label("Hidden layers", exact=True)
    hidden.fill("64")
    hidden.press("Enter")
    wait_idle(page)
    set_number(page, "Train on (digits)", 30000)
    set_number(page, "Epochs", 20)
    set_number(page, "Batch size", 32)
    page.get_by_role("button", name="Start training", exact=True).click()

    progress = page.locator('[data-testid="stProgress"]').first
    try:
        progress.wait_for(timeout=30_000)
    finally:
        screenshot(page, "train-started")
    # the live chart is the page's first Plotly chart; its traces must change as it trains
    traces = page.locator('[data-testid="stPlotlyChart"]').first.locator(".scatterlayer").first
    traces.wait_for(timeout=20_000)
    texts, drawings = set(), set()
    deadline = time.time() + 40
    while time.time() < deadline and (len(texts) < 3 or len(drawings) < 3):
        t = page.locator('[data-testid="stProgress"] p').first.inner_text()
        if t.startswith("Training"):
            texts.add(re.sub(r"elapsed .*", "", t))  # epoch and speed, not just the clock
            drawings.add(traces.inner_html())
        page.wait_for_timeout(400)
    assert len(texts) >= 3, f"the progress text did not advance: {texts}"
    assert len(drawings) >= 3, "the curves did not change while training"
    screenshot(page, "train-running")
    assert page.locator(EXCEPTION).count() == 0

    stop = page.get_by_role("button", name="Stop", exact=True)
    stop.hover()
    t_click = time.perf_counter()
    stop.click()
    t_stop = time.perf_counter()  # the click is delivered (the app's response starts here)
    page.get_by_text("Stopped by you").wait_for(timeout=15_000)
    stop_s = time.perf_counter() - t_stop
    RESULTS["stop_click_s"] = round(t_stop - t_click, 2)
    RESULTS["stop_to_stopped_s"] = round(stop_s, 2)
    # the stopped model is the session's current model (sidebar) with its test accuracy;
    # how long Stop took is reported (RESULTS), not asserted
    became_current(page, "run 1: 784-64-10", "train-stopped")


def test_dataset_grid_click_shows_that_digit(page):
    nav_link(page, "Dataset").first.click()
    grid = page.locator('[data-testid="stPlotlyChart"]').first
    point = grid.locator(".scatterlayer .trace").first.locator(".point").nth(23)
    point.wait_for(state="attached", timeout=60_000)
    wait_idle(page, 60)
    from playwright.sync_api import expect

    import mnist
    from mnist.analysis import explore

    shown = explore.pick_indices(mnist.load_mnist()[0], "random", 100, seed=0)
    index = page.get_by_label("Digit index", exact=True)
    expect(index).to_have_value(str(shown[0]))  # the close-up starts on the grid's first digit
    box = point.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    picked = int(shown[23])
    expect(index).to_have_value(str(picked), timeout=20_000)  # the clicked digit
    page.get_by_text(f"Digit #{picked}:").first.wait_for()
    screenshot(page, "dataset-selected")


def test_a_small_cnn_trains_with_live_curves_and_a_result(page):
    """Pick CNN, write a small spec (its shapes table and parameter count show), Start: the
    curves draw while it trains and it joins the models as a conv net."""
    nav_link(page, "Train").first.click()
    page.get_by_role("button", name="Start training", exact=True).wait_for(timeout=60_000)
    wait_idle(page)
    page.get_by_text("CNN", exact=True).first.click()  # the Network switch
    spec = page.get_by_label("Layer spec", exact=True)
    spec.wait_for(timeout=30_000)
    spec.fill("conv4k3-pool-conv8k15")
    spec.press("Enter")
    page.get_by_text(re.compile(r"conv8k15 has a 15x15 kernel")).first.wait_for(timeout=30_000)
    wait_idle(page)
    start = page.get_by_role("button", name="Start training", exact=True)
    assert start.is_disabled(), "Start must wait for a good layer spec"
    spec.fill("conv4k3-pool-16")
    spec.press("Enter")
    page.get_by_text(re.compile(r"[\d,]+ parameters \(weights and biases\)")).first.wait_for(
        timeout=30_000)
    page.get_by_role("cell", name="4 x 14 x 14").first.wait_for(timeout=30_000)
    page.get_by_text(re.compile(r"about .* to train \(estimated\)")).first.wait_for()
    wait_idle(page)
    set_number(page, "Train on (digits)", 3000)
    set_number(page, "Epochs", 3)
    assert not start.is_disabled()
    start.click()
    traces = page.locator('[data-testid="stPlotlyChart"]').first.locator(".scatterlayer").first
    traces.wait_for(timeout=30_000)
    screenshot(page, "train-cnn-running")
    became_current(page, "run 1: conv4k3-pool-16", "train-cnn-done", timeout=120_000)


def test_a_reload_finds_the_run_still_training_and_its_model(page):
    """The run is trained by a worker and kept in the storage, its id in the address: a reload
    (a new session) shows it still training, Stop reaches it, and its model joins the models."""
    nav_link(page, "Train").first.click()
    page.get_by_role("button", name="Start training", exact=True).wait_for(timeout=60_000)
    wait_idle(page)
    set_number(page, "Train on (digits)", 30000)
    set_number(page, "Epochs", 500)  # minutes: it is still training after the reload
    set_number(page, "Batch size", 16)
    page.get_by_role("button", name="Start training", exact=True).click()
    progress = page.locator('[data-testid="stProgress"] p').first
    progress.filter(has_text=re.compile(r"^Training")).wait_for(timeout=60_000)
    assert re.search(r"[?&]run=[\w-]{20,}", page.url), page.url
    name = page.get_by_text(re.compile(r"^run 1: 784-")).first.inner_text()

    page.reload()  # a new session: only the address is left
    page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
    progress = page.locator('[data-testid="stProgress"] p').first
    progress.filter(has_text=re.compile(r"^Training")).wait_for(timeout=30_000)
    screenshot(page, "train-after-reload")
    curves = page.locator('[data-testid="stMain"] [data-testid="stPlotlyChart"]').first
    curves.locator(".scatterlayer .trace").first.wait_for(
        timeout=30_000)  # the curves so far, read back from the storage
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text("Stopped by you").wait_for(timeout=30_000)
    became_current(page, name.split(" lr ")[0], "train-reloaded-stopped", timeout=60_000)


def became_current(page, name: str, shot: str, timeout: int = 15_000) -> None:
    """A finished run was added to the session's models and is the current one (sidebar)."""
    page.get_by_text(re.compile(r"Added to your models as")).wait_for(timeout=timeout)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text(re.compile(re.escape(name))).first.wait_for(timeout=15_000)
    wait_idle(page)
    screenshot(page, shot)
    assert page.locator(EXCEPTION).count() == 0
