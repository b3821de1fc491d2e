"""The Draw page in a real browser: draw a "1" and a "0" on the canvas with the mouse, see
the app predict them, press Clear and see no prediction; keep a drawing in "my digits" and
fine-tune on them (on a worker process). Also: a click on a confusion-matrix cell filters the
Mistakes gallery, and the Inside page draws.

Fixtures (`page`: a new session on the home page of one `streamlit run app.py`) come from
tests/browser/conftest.py. Set MNIST_SCREENSHOTS=/some/dir to keep screenshots.
"""

from __future__ import annotations

import math
import re
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


def _open(page, link):
    page.get_by_role("link", name=link, exact=True).click()


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
    out = os.environ.get("MNIST_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(out) / name), full_page=True)


def _clear(page):
    from playwright import sync_api

    page.get_by_role("button", name="Clear").click()
    sync_api.expect(_prediction(page)).to_have_count(0, timeout=20_000)
    sync_api.expect(page.get_by_text("Draw a digit on the black canvas")).to_be_visible()
    # the new, empty canvas (only it: the old one is gone) is ready to draw on
    sync_api.expect(page.locator("canvas.upper-canvas")).to_have_count(1, timeout=20_000)
    sync_api.expect(page.locator("canvas.upper-canvas")).to_be_visible()
    page.wait_for_timeout(500)  # let the fresh fabric.js canvas attach its mouse handlers


def test_draw_one_and_zero_then_clear(page):
    from playwright.sync_api import expect

    _open(page, "Draw")
    canvas = page.locator("canvas.upper-canvas")
    # the first run loads MNIST and scores the bundled model: allow for a slow machine
    expect(canvas).to_have_count(1, timeout=90_000)
    expect(canvas).to_be_visible()
    page.wait_for_timeout(500)  # let fabric.js attach its mouse handlers
    expect(page.get_by_text("Draw a digit on the black canvas")).to_be_visible()
    expect(_prediction(page)).to_have_count(0)

    box = canvas.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    # "1": one vertical stroke down the middle
    _stroke(page, [(x0 + 0.5 * w, y0 + 0.18 * h + k * 0.064 * h) for k in range(11)])
    expect(_prediction(page)).to_have_text("1", timeout=30_000)
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    _shot(page, "draw_1.png")

    _clear(page)
    canvas = page.locator("canvas.upper-canvas")
    box = canvas.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    # "0": a closed loop, a bit taller than wide
    loop = [(x0 + w * (0.5 + 0.2 * math.sin(t)), y0 + h * (0.5 - 0.3 * math.cos(t)))
            for t in [2 * math.pi * k / 28 for k in range(29)]]
    _stroke(page, loop)
    expect(_prediction(page)).to_have_text("0", timeout=30_000)
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    _shot(page, "draw_0.png")

    _clear(page)
    _shot(page, "draw_cleared.png")


def test_mistakes_cell_click_filters_gallery_and_inside_runs(page):
    from playwright.sync_api import expect

    _open(page, "Mistakes")
    expect(page.get_by_text("Confusion matrix (click a cell)")).to_be_visible(timeout=90_000)
    cm = page.locator('[data-testid="stPlotlyChart"]').first
    area = cm.locator(".nsewdrag").first
    area.wait_for()
    b = area.bounding_box()
    # the cell true 4 (row), predicted 9 (column) of the 10x10 plot area
    page.mouse.click(b["x"] + b["width"] * 9.5 / 10, b["y"] + b["height"] * 4.5 / 10)
    summary = page.locator('[data-testid="stMarkdownContainer"]', has_text="true 4, predicted 9")
    expect(summary.first).to_be_visible(timeout=20_000)
    expect(page.get_by_role("combobox", name="True class")).to_have_value("4")
    expect(page.get_by_role("combobox", name="Predicted class")).to_have_value("9")
    page.locator('[data-testid="stPlotlyChart"] .main-svg').nth(2).wait_for()
    _shot(page, "mistakes_4_as_9.png")

    _open(page, "Inside the network")
    expect(page.get_by_text("What the first layer looks for")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("hidden 1:")).to_be_visible(timeout=30_000)
    _shot(page, "inside.png")


def test_fine_tuning_on_my_digits_runs_on_a_worker_and_makes_the_current_model(page):
    """The Draw page queues the fine-tune on the server's worker pool (a spawned process
    fine-tunes, and fine-tunes again per held-out part); the page shows its new model."""
    from playwright.sync_api import expect

    _open(page, "Draw")
    canvas = page.locator("canvas.upper-canvas")
    expect(canvas).to_have_count(1, timeout=90_000)
    expect(canvas).to_be_visible()
    page.wait_for_timeout(500)  # let fabric.js attach its mouse handlers
    box = canvas.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    _stroke(page, [(x0 + 0.5 * w, y0 + 0.18 * h + k * 0.064 * h) for k in range(11)])
    expect(_prediction(page)).to_have_text("1", timeout=30_000)
    for n in (1, 2):
        page.get_by_role("button", name="Add to my digits").click()
        expect(page.get_by_text(f"Your digits: {n}")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Fine-tune on them").click()
    expect(page.get_by_text(re.compile(r"fine-tuned: .* is now the current model"))
           ).to_be_visible(timeout=120_000)
    message = page.get_by_text(re.compile(r"is now the current model")).first
    expect(message).to_contain_text("On your digits it did not train on")
    _shot(page, "draw_fine_tuned.png")
    assert page.locator('[data-testid="stException"]').count() == 0
