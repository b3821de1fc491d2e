"""Conv nets and ensembles in headless chromium: draw a digit and see the bundled MLP's, the
bundled CNN's and their ensemble's readings side by side; make an ensemble in the sidebar and
see it read the drawing next to them; look inside its CNN member (filters, feature maps).

The app needs a bundled CNN: models/cnn.npz when it ships (then the shared server of
tests/browser/conftest.py is used), else a server of this module's own whose bundled CNN
($MNIST_CNN_MODEL) is a small CNN trained here in a few seconds.
"""

from __future__ import annotations

import io
import time

import pytest

import mnist
from conftest import screenshot
from tests.browser.appserver import EXCEPTION, ROOT, nav_link, running_app, wait_idle

LONG = 90_000  # ms: a first visit loads MNIST and the bundled models
ROWS = ["bundled MLP (current)", "bundled CNN", "MLP + CNN ensemble"]


def _small_cnn_file(path) -> None:
    from mnist.training.metrics import score

    train, test = mnist.load_mnist()
    cfg = mnist.TrainConfig(layers="conv4k5-pool-conv8k3-pool-32", epochs=1, subset=6000,
                            val_fraction=0.0, seed=0, lr=3e-3)
    run = mnist.train(cfg, train)
    history = list(run)
    sc = score(run.model, test)
    buf = io.BytesIO()
    mnist.save_model(run.model, buf, config=cfg, history=history,
                     metrics=dict(test_acc=sc["test_acc"], test_loss=sc["test_loss"]))
    path.write_bytes(buf.getvalue())


@pytest.fixture(scope="module")
def cnn_app(request, tmp_path_factory):
    """The base URL of an app that has a bundled CNN."""
    if (ROOT / "models" / "cnn.npz").is_file():
        yield request.getfixturevalue("app_server")
        return
    path = tmp_path_factory.mktemp("cnn") / "cnn.npz"
    _small_cnn_file(path)
    with running_app(env={"MNIST_CNN_MODEL": str(path)}) as url:
        yield url


@pytest.fixture
def cnn_page(browser_context, cnn_app):
    p = browser_context.new_page()
    p.goto(cnn_app)
    p.get_by_role("heading", name="Start here").wait_for(timeout=LONG)
    yield p
    p.close()


def _table(page) -> list[list[str]]:
    """The comparison's rows as cell texts (the data grid's accessible table)."""
    rows = page.locator('[data-testid="stDataFrame"]').first.locator("tbody tr")
    return [r.locator("td").all_inner_texts() for r in rows.all()]


def _prediction(page):
    return (page.locator('[data-testid="stMetric"]', has_text="Prediction")
            .locator('[data-testid="stMetricValue"]'))


def _draw_seven(page):
    canvas = page.locator("canvas.upper-canvas")
    box = canvas.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    points = [(x0 + 0.3 * w, y0 + 0.2 * h), (x0 + 0.7 * w, y0 + 0.2 * h),
              (x0 + 0.45 * w, y0 + 0.85 * h)]
    page.mouse.move(*points[0])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()


def _wait_rows(page, first: str, n: int):
    """Until the comparison shows n rows, the first named `first`; returns them."""
    deadline = time.monotonic() + 30
    rows = []
    while time.monotonic() < deadline:
        rows = _table(page)
        if len(rows) == n and rows[0] and rows[0][0] == first:
            return rows
        page.wait_for_timeout(250)
    raise AssertionError(f"comparison rows: {rows}")


def _choose(page, select, name: str) -> None:
    """Add `name` to the multiselect `select`: type to filter its list, click the option, until
    its chip shows. (Under load the list can close before the click lands, or Enter can
    reach the box before the list is filtered: then nothing is chosen, and we try again.)"""
    chip = select.locator(f'[data-tag][aria-label="{name}"]')
    for _ in range(5):
        select.locator("input").click()
        page.keyboard.type(name)  # (not fill(): clearing an empty box removes a chip)
        option = page.get_by_role("option", name=name, exact=True)
        try:
            option.click(timeout=10_000)
            chip.first.wait_for(timeout=5_000)
            return
        except Exception:  # noqa: BLE001 - playwright's timeout; the box is cleared below
            page.keyboard.press("Escape")
            page.wait_for_timeout(500)
    raise AssertionError(f"{name!r} never became a chip of the multiselect")


def test_draw_shows_mlp_cnn_and_ensemble_side_by_side(cnn_page):
    from playwright.sync_api import expect

    page = cnn_page
    nav_link(page, "Draw").first.click()
    canvas = page.locator("canvas.upper-canvas")
    expect(canvas).to_have_count(1, timeout=LONG)
    expect(canvas).to_be_visible()
    page.wait_for_timeout(500)  # let fabric.js attach its mouse handlers
    _draw_seven(page)
    expect(_prediction(page)).to_have_text("7", timeout=30_000)
    expect(page.get_by_text("The bundled models on the same drawing")).to_be_visible()
    rows = _wait_rows(page, ROWS[0], 3)
    assert [r[0] for r in rows] == ROWS
    reads = [r[1] for r in rows]
    assert reads[0] == "7"  # the current model's row is the prediction shown above it
    assert all(r in [str(d) for d in range(10)] for r in reads), rows
    for r in rows:  # how sure, and ten probabilities per model
        assert 0.0 < float(r[2]) <= 1.0
        assert len(r[3].split(",")) == 10
    agree = page.locator('[data-testid="stCaptionContainer"]',
                         has_text="read" if len(set(reads)) == 1 else "They disagree")
    expect(agree.first).to_be_visible()
    screenshot(page, "cnn-draw-side-by-side")
    assert page.locator(EXCEPTION).count() == 0

    # an ensemble of the two bundled models, made in the sidebar, reads the drawing too
    side = page.locator('[data-testid="stSidebar"]')
    wait_idle(page)
    side.get_by_text("Make an ensemble").click()
    select = side.locator('[data-testid="stMultiSelect"]')
    for name in ("bundled model", "bundled CNN"):
        _choose(page, select, name)
    page.keyboard.press("Escape")  # closes the drop-down
    made = "ensemble: bundled model + bundled CNN"
    for _ in range(3):  # under load a click can land while the drop-down is still closing:
        side.get_by_role("button", name="Make ensemble").click()  # it only closes it then
        try:
            side.get_by_text(made).first.wait_for(timeout=30_000)
            break
        except Exception:  # noqa: BLE001 - playwright's timeout: click again
            continue
    expect(side.get_by_text(made).first).to_be_visible(timeout=30_000)
    expect(side.get_by_text("Members (2, their probabilities averaged)")).to_be_visible()
    wait_idle(page)
    rows = _wait_rows(page, f"{made} (current)", 4)
    assert [r[0] for r in rows[1:]] == ["bundled MLP", "bundled CNN", "MLP + CNN ensemble"]
    assert rows[0][1] == rows[3][1]  # the same two models, the same mean
    assert abs(float(rows[0][2]) - float(rows[3][2])) < 1e-3
    expect(_prediction(page)).to_have_text(rows[0][1])
    screenshot(page, "cnn-draw-ensemble-current")

    # inside it: a member to pick; the CNN member's filters and feature maps
    nav_link(page, "Inside the network").first.click()
    pick = page.get_by_role("combobox", name="Member to look inside")
    expect(pick).to_be_visible(timeout=LONG)
    pick.click()
    page.get_by_role("option", name="bundled CNN").click()
    expect(page.get_by_text("What each conv layer finds in this digit")).to_be_visible(
        timeout=30_000)
    expect(page.get_by_text("First conv layer:").first).to_be_visible()
    expect(page.get_by_text("conv 1:").first).to_be_visible()
    expect(page.get_by_text("The members' choice on this digit")).to_be_visible()
    wait_idle(page)
    screenshot(page, "cnn-inside-member")
    assert page.locator(EXCEPTION).count() == 0
