"""The Train page in headless chromium, as a newcomer and a teacher use it: a chosen preset is
what trains; the learning-rate slider shows the typed rate; a link opens the exact setup (also
as a fresh server's first request) and a bad one opens with defaults and a note; a running
run's learning rate changes and the curve marks where; step by step trains one batch per
click; the chart library loads on the first page, before the Train page needs it."""

from __future__ import annotations

import re
import time

from conftest import screenshot
from playwright.sync_api import expect
from tests.browser.appserver import (EXCEPTION, nav_link, running_app, set_number,
                                     wait_idle)

LONG = 60_000


def open_train(page) -> None:
    nav_link(page, "Train").first.click()
    page.get_by_role("button", name="Start training", exact=True).wait_for(timeout=LONG)
    wait_idle(page)


def choose(page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def value(page, label: str) -> str:
    return page.get_by_label(label, exact=True).input_value()


def shows(page, label: str, text: str) -> None:
    """Wait until the input labelled `label` holds `text` (the rerun may still be going)."""
    expect(page.get_by_label(label, exact=True)).to_have_value(text, timeout=30_000)


def chosen(page, label: str) -> str:
    """What a selectbox shows (its combobox input holds the chosen option)."""
    return page.get_by_role("combobox", name=label).input_value()


def form_state(page) -> dict:
    return {label: value(page, label) for label in
            ("Hidden layers", "Learning rate (exact)", "Batch size", "Epochs",
             "Train on (digits)", "Seed")}


def no_exception(page) -> None:
    boxes = page.locator(EXCEPTION)
    assert boxes.count() == 0, boxes.first.inner_text()[:2000]


def click_stop(page) -> None:
    """Stop the run if its Stop button is there (no run left behind). Stop lives in a fragment
    redrawn twice a second: dispatch the click (see the sessions test)."""
    stop = page.get_by_role("button", name="Stop", exact=True)
    if stop.count():
        stop.dispatch_event("click")


def test_the_chosen_preset_is_what_trains(page):
    """Item 1: picking tutorial-128-64-sgd fills the form; Start trains 784-128-64-10 SGD."""
    open_train(page)
    assert value(page, "Hidden layers") == "32"
    choose(page, "Preset", "tutorial-128-64-sgd")
    shows(page, "Hidden layers", "128, 64")
    shows(page, "Learning rate (exact)", "0.1")
    assert chosen(page, "Optimizer") == "sgd"
    assert page.get_by_role("button", name="Load preset").count() == 0
    page.get_by_role("button", name="Start training", exact=True).click()
    try:
        page.get_by_text(re.compile(r"run 1: 784-128-64-10 sgd lr 0\.1")).first.wait_for(
            timeout=LONG)
        screenshot(page, "train-preset-started")
    finally:
        click_stop(page)
    page.get_by_text(re.compile(r"Added to your models as")).wait_for(timeout=LONG)
    no_exception(page)


def test_the_learning_rate_slider_shows_the_typed_rate(page):
    """Item 9: typing 50 shows 50 on the slider (not 10); moving the slider sets the number."""
    open_train(page)
    set_number(page, "Learning rate (exact)", 50)
    thumb = page.locator('[data-testid="stSliderThumbValue"]').first
    expect(thumb).to_have_text("50", timeout=30_000)
    slider = page.get_by_role("slider").first
    slider.focus()
    slider.press("ArrowLeft")  # the next stop down
    shows(page, "Learning rate (exact)", "10")
    expect(thumb).to_have_text("10")
    no_exception(page)


def test_a_shared_link_opens_the_exact_setup_in_a_new_session(page, browser_context):
    open_train(page)
    choose(page, "Preset", "tutorial-128-64-sgd")
    shows(page, "Hidden layers", "128, 64")
    set_number(page, "Epochs", 3)
    set_number(page, "Train on (digits)", 7000)
    shows(page, "Train on (digits)", "7000")
    setup = form_state(page)
    assert "epochs=3" in page.url and "subset=7000" in page.url  # the address bar follows
    page.get_by_role("button", name="Share this setup").click()
    link = page.locator('[data-testid="stCode"] code').filter(has_text="/train?").first
    link.wait_for()
    url = link.inner_text().strip()
    screenshot(page, "train-share-link")
    other = browser_context.new_page()  # a student's tab: a new session
    try:
        other.goto(url)
        other.get_by_role("button", name="Start training", exact=True).wait_for(timeout=LONG)
        wait_idle(other)
        assert form_state(other) == setup
        assert chosen(other, "Optimizer") == "sgd"
        no_exception(other)
    finally:
        other.close()


def test_a_bad_or_stale_link_opens_with_defaults_and_one_note(page, app_server):
    page.goto(f"{app_server}/train?lr=fast&optimizer=adamw&epochs=7&old_knob=3")
    page.get_by_role("button", name="Start training", exact=True).wait_for(timeout=LONG)
    wait_idle(page)
    note = page.get_by_text(re.compile(r"^This link's setup was opened with defaults"))
    note.wait_for()
    text = note.inner_text()
    assert "lr='fast'" in text and "optimizer='adamw'" in text and "old_knob" in text
    assert value(page, "Epochs") == "7" and value(page, "Learning rate (exact)") == "0.001"
    no_exception(page)
    screenshot(page, "train-bad-link")


def test_a_link_as_a_fresh_servers_first_request_gets_the_whole_app(browser_context):
    """A teacher's link opened on a server that has just started (or woken up)."""
    with running_app() as url:
        page = browser_context.new_page()
        try:
            page.goto(f"{url}/train?hidden=64-32&optimizer=sgd&lr=0.05")
            page.get_by_role("button", name="Start training", exact=True).wait_for(timeout=LONG)
            wait_idle(page)
            links = page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
            assert any(re.search(r"Inside the network\s*$", t) for t in links), links
            assert not any(t.strip() == "app" for t in links), links  # not the folder's files
            page.locator('[data-testid="stSidebar"]').get_by_text("Current model").wait_for()
            shows(page, "Hidden layers", "64, 32")
            shows(page, "Learning rate (exact)", "0.05")
            no_exception(page)
        finally:
            page.close()


def test_the_learning_rate_of_a_running_run_changes_and_the_curve_marks_it(page):
    open_train(page)
    choose(page, "Optimizer", "sgd")
    set_number(page, "Learning rate (exact)", 0.1)
    shows(page, "Learning rate (exact)", "0.1")
    set_number(page, "Train on (digits)", 20000)
    set_number(page, "Epochs", 500)  # far longer than the test: it stops the run
    set_number(page, "Batch size", 16)
    page.get_by_role("button", name="Start training", exact=True).click()
    try:
        page.locator('[data-testid="stProgress"] p').filter(
            has_text=re.compile(r"^Training: epoch \d+ of 500")).first.wait_for(
                timeout=LONG)
        set_number(page, "New learning rate", 0.01)
        page.get_by_role("button", name="Change it now").click()
        metric = page.locator('[data-testid="stMetric"]').filter(has_text="Learning rate")
        metric.filter(has_text="0.01").first.wait_for(timeout=30_000)
        chart = page.locator('[data-testid="stPlotlyChart"]').first
        dotted = chart.locator(".shapelayer path[style*='dasharray']")
        deadline = time.time() + 90  # the worker's next poll, record flush, page poll
        while time.time() < deadline and dotted.count() < 2:
            page.wait_for_timeout(300)
        assert dotted.count() >= 2, "no dotted line where the rate changed"
        chart.get_by_text("lr 0.01").first.wait_for()
        screenshot(page, "train-lr-changed")
    finally:
        click_stop(page)
    page.get_by_text(re.compile(r"Added to your models as")).wait_for(timeout=LONG)
    no_exception(page)


def test_step_by_step_trains_one_batch_per_click(page):
    open_train(page)
    page.get_by_role("button", name="First step").click()
    page.get_by_text(re.compile(r"^1 steps")).first.wait_for(timeout=LONG)
    curves = page.locator('[data-testid="stPlotlyChart"]').filter(
        has=page.locator(".scatterlayer")).first
    before = curves.locator(".scatterlayer").first.inner_html()
    for n in (2, 3):
        page.get_by_role("button", name="Step", exact=True).click()
        page.get_by_text(re.compile(rf"^{n} steps · at epoch 1 of 3, batch {n} of")).first\
            .wait_for(timeout=LONG)
    wait_idle(page)
    assert curves.locator(".scatterlayer").first.inner_html() != before
    page.get_by_text(re.compile(r"P\(true digit 7\): .* before the last step")).wait_for()
    box = page.get_by_label("Learning rate for the next steps", exact=True)
    box.fill("0.5")
    box.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="10 steps").click()
    page.get_by_text(re.compile(r"^13 steps")).first.wait_for(timeout=LONG)
    page.get_by_text("0.001 → 0.5 after step 3").wait_for()
    screenshot(page, "train-step-by-step")
    page.get_by_role("button", name="Keep this network").click()
    page.locator('[data-testid="stSidebar"]').get_by_text(
        re.compile(r"stepped: 784-32-10 adam, 13 steps")).first.wait_for(timeout=LONG)
    no_exception(page)


def test_the_chart_library_loads_on_the_first_page_before_train_needs_it(browser_context,
                                                                          app_server):
    """Item 8: each tab loads Plotly's big script at its first chart; the home page starts it,
    so the Train page's charts do not wait for it."""
    page = browser_context.new_page()
    fetched = []
    page.on("request", lambda r: fetched.append(r.url))
    try:
        page.goto(app_server)
        page.get_by_role("heading", name="Start here").wait_for(timeout=LONG)
        wait_idle(page)
        deadline = time.time() + 30
        while time.time() < deadline and not any("PlotlyChart" in u for u in fetched):
            page.wait_for_timeout(200)
        assert any("PlotlyChart" in u for u in fetched), "no chart library on the home page"
        assert page.get_by_role("heading", name="Train").count() == 0  # still on Home
        open_train(page)
        page.get_by_text("Test errors").first.wait_for(timeout=LONG)
        page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=LONG)
        no_exception(page)
    finally:
        page.close()
