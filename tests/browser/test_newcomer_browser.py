"""What a newcomer stumbled on, in headless chromium: an upload replaces the data in use; the
canvas shows only the tools that serve drawing; a click on a Dataset digit shows it up close
and the close-up starts on a digit of the grid; the 784 numbers and the Mistakes page's
confusion matrix and digit list are readable; every page has its own help and nothing is
fetched from outside; a finger draws on a phone without scrolling the page.

Fixtures (`page`: a new session on the home page of one `streamlit run app.py`) come from
tests/browser/conftest.py. Set MNIST_SCREENSHOTS=/some/dir to keep screenshots.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest

import mnist
from conftest import screenshot
from mnist.analysis import explore
from tests.app_helpers import csv_bytes
from tests.browser.appserver import EXCEPTION, nav_link, wait_idle

LONG = 90_000  # ms: a first visit may load MNIST and score the bundled model
PAGES = ["Home", "Dataset", "Train", "Search", "Mistakes", "Draw", "Inside the network"]
HEADINGS = {"Home": "MNIST Lab", "Draw": "Draw a digit"}


def _open(page, title):
    nav_link(page, title).first.click()
    page.get_by_role("heading", name=HEADINGS.get(title, title), exact=True).first.wait_for(
        timeout=LONG)
    wait_idle(page, 90)


def _no_exception(page, where=""):
    assert page.locator(EXCEPTION).count() == 0, f"exception {where}"


# ------------------------------------------------------------------------------ uploads
def test_a_second_upload_replaces_the_first(page):
    from playwright.sync_api import expect

    _open(page, "Dataset")
    main = page.locator('[data-testid="stMain"]')  # the sidebar's help names things too
    main.get_by_text("Upload your own data").click()
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]').first
    use = page.get_by_role("button", name="Use this data")
    data_line = page.locator('[data-testid="stMarkdownContainer"]', has_text="Data in use:")
    for name, n in (("first.csv", 60), ("second.csv", 80)):
        uploader.set_input_files(files=[{"name": name, "mimeType": "text/csv",
                                         "buffer": csv_bytes(n)}])
        expect(use).to_be_enabled(timeout=20_000)
        use.click()
        expect(data_line).to_contain_text(f"uploaded: {name} ({n:,} train", timeout=30_000)
        wait_idle(page)
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0
        uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]').first
    screenshot(page, "newcomer-upload-replaced")
    _no_exception(page)


# ------------------------------------------------------------------------------ canvas
def test_canvas_shows_only_drawing_tools(page):
    from playwright.sync_api import expect

    _open(page, "Draw")
    canvas = page.locator("canvas.upper-canvas")
    expect(canvas).to_be_visible(timeout=LONG)
    page.wait_for_timeout(500)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    toolbar = page.locator(".dc-toolbar")
    expect(toolbar.get_by_role("button", name="Undo")).to_be_visible()
    # the edit toggle silently stopped drawing; the upload arrow only resent the drawing
    for hidden in ("Edit", "Update the app with this drawing"):
        expect(toolbar.get_by_role("button", name=hidden)).to_be_hidden()
    page.locator('[data-testid="stMain"]').get_by_text(re.compile(r"Undo, Redo")).wait_for()
    # and drawing still works
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.18 * box["height"])
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + (0.18 + 0.064 * k)
                        * box["height"], steps=2)
    page.mouse.up()
    metric = page.locator('[data-testid="stMetric"]', has_text="Prediction")
    expect(metric.locator('[data-testid="stMetricValue"]')).to_have_text("1", timeout=30_000)
    screenshot(page, "newcomer-canvas")


# ------------------------------------------------------------------------------ Dataset
def test_a_click_on_a_grid_digit_shows_it_up_close(page):
    from playwright.sync_api import expect

    train, _ = mnist.load_mnist()
    shown = [int(i) for i in explore.pick_indices(train, "random", 100, seed=0)]
    _open(page, "Dataset")
    index = page.get_by_label("Digit index", exact=True)
    # the close-up starts on the grid's first digit, not on #0 (usually not in the grid)
    expect(index).to_have_value(str(shown[0]), timeout=LONG)
    page.get_by_text(f"Digit #{shown[0]}: label {train.labels[shown[0]]}").first.wait_for()
    area = page.locator('[data-testid="stPlotlyChart"]').first.locator(".nsewdrag").first
    area.wait_for(timeout=LONG)
    wait_idle(page)
    b = area.bounding_box()
    row, col = 2, 4  # a plain click on the digit in row 3, column 5
    page.mouse.click(b["x"] + b["width"] * (col + 0.5) / 10,
                     b["y"] + b["height"] * (row + 0.5) / 10)
    picked = shown[row * 10 + col]
    expect(index).to_have_value(str(picked), timeout=20_000)
    page.get_by_text(f"Digit #{picked}: label {train.labels[picked]}").first.wait_for()
    screenshot(page, "newcomer-grid-click")
    _no_exception(page)


# heatmap value labels: their font size and the horizontal gaps between neighbours in a row
_LABEL_BOXES = """root => [...root.querySelectorAll('g.heatmap-label text')].map(t => {
    const r = t.getBoundingClientRect();
    return [r.left, r.right, Math.round(r.top), parseFloat(getComputedStyle(t).fontSize)];
})"""


def _cramped(boxes, min_font=10, min_gap=3):
    """What is unreadable about heatmap labels: small fonts, neighbours closer than min_gap."""
    problems = [f"font {b[3]} px" for b in boxes if b[3] < min_font][:1]
    rows = {}
    for left, right, top, _ in boxes:
        rows.setdefault(top, []).append((left, right))
    for spans in rows.values():
        spans.sort()
        gaps = [b[0] - a[1] for a, b in zip(spans, spans[1:])]
        if gaps and min(gaps) < min_gap:
            problems.append(f"labels {min(gaps):.1f} px apart")
            break
    return problems


def test_the_784_numbers_are_readable(page):
    _open(page, "Dataset")
    page.locator('[data-testid="stMain"]').get_by_text("Show its 784 numbers").click()
    chart = page.locator('[data-testid="stPlotlyChart"]').filter(
        has=page.locator("g.heatmap-label")).first
    chart.locator("g.heatmap-label text").nth(783).wait_for(state="attached", timeout=LONG)
    chart.scroll_into_view_if_needed()
    boxes = chart.evaluate(_LABEL_BOXES)
    assert len(boxes) == 784
    assert not _cramped(boxes), _cramped(boxes)
    screenshot(page, "newcomer-784-numbers")


def test_mistakes_matrix_and_digit_list_are_readable(page):
    _open(page, "Mistakes")
    page.get_by_text("Confusion matrix (click a cell)").wait_for(timeout=LONG)
    cm = page.locator('[data-testid="stPlotlyChart"]').first
    area = cm.locator(".nsewdrag").first
    area.wait_for()
    assert area.bounding_box()["width"] >= 400, area.bounding_box()
    boxes = cm.evaluate(_LABEL_BOXES)
    assert len(boxes) >= 10  # the diagonal at least
    assert not _cramped(boxes, min_font=12, min_gap=2), _cramped(boxes, 12, 2)
    digit = page.get_by_role("combobox", name="Digit")
    digit.wait_for(timeout=LONG)
    assert digit.input_value().startswith("test #")
    overflow = digit.evaluate("e => e.scrollWidth - e.clientWidth")
    assert overflow <= 0, f"the digit list cuts its text by {overflow} px"
    screenshot(page, "newcomer-mistakes")


# ------------------------------------------------------------------------------ every page
def test_nothing_is_fetched_from_outside(page):
    """Every request of every page stays on this machine (the favicon came from
    fonts.gstatic.com: offline, the tab showed a broken icon)."""
    outside = []
    page.on("request", lambda r: outside.append(r.url)
            if urlparse(r.url).hostname not in ("localhost", "127.0.0.1") else None)
    page.reload()
    page.get_by_role("heading", name="Start here").wait_for(timeout=LONG)
    for title in PAGES:
        _open(page, title)
        _no_exception(page, f"on {title}")
    page.wait_for_timeout(1000)  # late requests (favicons, fonts)
    assert not outside, f"requests that leave this machine: {sorted(set(outside))}"


def test_every_page_shows_its_own_help(page):
    from ui.help import HELP

    sidebar = page.locator('[data-testid="stSidebar"]')
    seen = set()
    for title in PAGES:
        _open(page, title)
        help_box = sidebar.locator('[data-testid="stExpander"]').filter(has_text="Help")
        if not help_box.locator('[data-testid="stExpanderDetails"]').is_visible():
            help_box.get_by_text("Help").first.click()
        first_line = HELP[title].strip().splitlines()[0].strip("*# ")
        sidebar.get_by_text(first_line[:40]).first.wait_for(timeout=20_000)
        seen.add(first_line)
    assert len(seen) == len(PAGES)  # each page its own help


# ------------------------------------------------------------------------------ phone
SCROLLED = """() => { const m = document.querySelector('[data-testid="stMain"]');
                      return (m ? m.scrollTop : 0) + window.scrollY; }"""


def _swipe(cdp, page, x, y0, y1, steps=12):
    """A one-finger drag from (x, y0) to (x, y1), as real touch events."""
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart",
                                          "touchPoints": [{"x": x, "y": y0}]})
    for k in range(1, steps + 1):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [
            {"x": x, "y": y0 + (y1 - y0) * k / steps}]})
        page.wait_for_timeout(20)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    page.wait_for_timeout(400)


@pytest.fixture
def phone(browser_context, app_server):
    """A phone-sized touch screen (390x844, like an iPhone 12-15) on the Draw page."""
    ctx = browser_context.browser.new_context(viewport={"width": 390, "height": 844},
                                              device_scale_factor=3, is_mobile=True,
                                              has_touch=True)
    ctx.set_default_timeout(30_000)
    p = ctx.new_page()
    p.goto(app_server + "/draw")
    yield p
    ctx.close()


def test_a_finger_draws_on_a_phone_without_scrolling_the_page(phone):
    from playwright.sync_api import expect

    page = phone
    canvas = page.locator("canvas.upper-canvas")
    expect(canvas).to_be_visible(timeout=LONG)
    page.wait_for_timeout(800)  # fabric.js attaches its handlers
    wait_idle(page, 90)
    cdp = page.context.new_cdp_session(page)
    # a swipe on the text scrolls the page (so the measure below can see scrolling) ...
    text = page.get_by_text("Draw with the mouse or a finger").bounding_box()
    before = page.evaluate(SCROLLED)
    _swipe(cdp, page, text["x"] + 20, text["y"] + text["height"] / 2,
           text["y"] + text["height"] / 2 - 150)
    assert page.evaluate(SCROLLED) > before
    # ... and the same swipe on the canvas draws instead: a "1", and the page stays put
    box = canvas.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box  # fits the screen
    before = page.evaluate(SCROLLED)
    _swipe(cdp, page, box["x"] + box["width"] / 2, box["y"] + 0.15 * box["height"],
           box["y"] + 0.85 * box["height"])
    assert page.evaluate(SCROLLED) == before
    metric = page.locator('[data-testid="stMetric"]', has_text="Prediction")
    expect(metric.locator('[data-testid="stMetricValue"]')).to_have_text("1", timeout=30_000)
    screenshot(page, "newcomer-phone")
