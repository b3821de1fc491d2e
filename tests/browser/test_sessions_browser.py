"""Many users at once, in headless chromium: two sessions train side by side without seeing
each other's models and Stop in one leaves the other running; a reload during training does
not break the page; a model downloaded from the Train page uploads back and works on every
page.

Each new tab of the shared browser context is a new Streamlit session (fixtures in conftest.py).
Waits are for text and states, with generous timeouts: the CI box may be busy.
"""

from __future__ import annotations

import re
import time

from conftest import screenshot
from tests.browser.appserver import EXCEPTION, nav_link, wait_idle

PAGES = ["Home", "Dataset", "Train", "Search", "Mistakes", "Draw", "Inside the network"]
HEADINGS = {"Home": "MNIST Lab", "Draw": "Draw a digit"}  # a page's title, when not its name
LONG = 90_000  # ms: the first visit of a page may load MNIST and score the bundled model


def open_page(page, title: str) -> None:
    nav_link(page, title).first.click()
    page.get_by_role("heading", name=HEADINGS.get(title, title), exact=True).first.wait_for(timeout=LONG)
    wait_idle(page, 90)


def set_field(page, label: str, value) -> None:
    box = page.get_by_label(label, exact=True)
    box.wait_for(timeout=LONG)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def no_exception(page, where: str = "") -> None:
    boxes = page.locator(EXCEPTION)
    assert boxes.count() == 0, f"exception {where}: {boxes.first.inner_text()[:2000]}"


def set_up_run(page, epochs: int, hidden: str | None = None) -> None:
    """The Train form's first preset (784-32-10 on 5,000 digits) with these epochs (and hidden
    layers): few fields to type, as each one reruns the page."""
    open_page(page, "Train")
    if hidden is not None:
        set_field(page, "Hidden layers", hidden)
    set_field(page, "Epochs", epochs)
    page.get_by_text(f"Architecture: 784-{hidden or 32}-10").wait_for()


def progress_text(page) -> str:
    return page.locator('[data-testid="stProgress"] p').first.inner_text()


def wait_training(page) -> None:
    """Until the progress bar says it is training (records are coming in)."""
    page.bring_to_front()  # a background tab's timers (the fragment's polling) are throttled
    page.locator('[data-testid="stProgress"] p').filter(
        has_text=re.compile(r"^Training: epoch")).first.wait_for(timeout=LONG)


def epoch_of(text: str) -> float:
    m = re.search(r"epoch (\d+(?:\.\d+)?) of", text)
    return float(m.group(1)) if m else -1.0


def click_stop(page) -> None:
    """Stop lives in a fragment redrawn twice a second: a normal click can keep missing it (the
    button is replaced while Playwright waits for it to be stable), so dispatch the click."""
    page.bring_to_front()
    page.get_by_role("button", name="Stop", exact=True).dispatch_event("click")


def picker_options(page) -> list[str]:
    """The names in the sidebar's "Use model" picker (this session's models)."""
    page.bring_to_front()
    box = page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Use model")
    box.wait_for(timeout=30_000)
    box.click()
    options = page.get_by_role("option")
    options.first.wait_for()
    names = options.all_inner_texts()
    page.keyboard.press("Escape")
    return names


def test_two_sessions_train_apart_and_stop_stops_only_its_own(browser_context, app_server):
    a, b = browser_context.new_page(), browser_context.new_page()
    try:
        for p in (a, b):
            p.goto(app_server)
            p.get_by_role("heading", name="Start here").wait_for(timeout=LONG)
        # long runs (the test stops them): A trains a 784-16-10 net, B a 784-32-10 one
        set_up_run(a, 1000, hidden="16")
        set_up_run(b, 1000)
        a.get_by_role("button", name="Start training", exact=True).click()
        b.get_by_role("button", name="Start training", exact=True).click()
        wait_training(a)
        wait_training(b)
        screenshot(b, "sessions-b-training")

        click_stop(a)
        a.get_by_text("Stopped by you").first.wait_for(timeout=30_000)
        a.get_by_text(re.compile(r"Added to your models as")).wait_for(timeout=60_000)
        # B is untouched: still training, and moving on
        b.bring_to_front()
        first = progress_text(b)
        assert first.startswith("Training"), first
        deadline = time.time() + 30
        later = first
        while time.time() < deadline and epoch_of(later) <= epoch_of(first):
            b.wait_for_timeout(500)
            later = progress_text(b)
        assert later.startswith("Training") and epoch_of(later) > epoch_of(first), (first, later)
        assert b.get_by_text("Stopped by you").count() == 0
        screenshot(b, "sessions-b-still-training")

        click_stop(b)
        b.get_by_text(re.compile(r"Added to your models as")).wait_for(timeout=60_000)
        wait_idle(b)
        a.bring_to_front()
        wait_idle(a)
        names_a, names_b = picker_options(a), picker_options(b)
        assert any("784-16-10" in n for n in names_a), names_a
        assert any("784-32-10" in n for n in names_b), names_b
        assert not any("784-32-10" in n for n in names_a), names_a  # B's model is not in A
        assert not any("784-16-10" in n for n in names_b), names_b  # nor A's in B
        for p in (a, b):
            no_exception(p)
    finally:
        for p in (a, b):
            if p.get_by_role("button", name="Stop", exact=True).count():
                click_stop(p)  # no run left behind
            p.close()


def test_reload_during_training_keeps_the_app_working(page):
    set_up_run(page, 200)  # seconds long: still training at the reload
    page.get_by_role("button", name="Start training", exact=True).click()
    wait_training(page)
    page.reload()
    # the app comes back (on the Train page, maybe as a new session) without an exception
    page.get_by_role("heading", name="Train").first.wait_for(timeout=LONG)
    wait_idle(page, 90)
    no_exception(page)
    stop = page.get_by_role("button", name="Stop", exact=True)
    if stop.count():  # the same session came back, with its run: stop it
        click_stop(page)
        page.get_by_text(re.compile(r"Added to your models as")).wait_for(timeout=60_000)
    wait_idle(page)
    # and it still trains: a short run to the end
    set_up_run(page, 1, hidden="12")
    page.get_by_role("button", name="Start training", exact=True).click()
    page.locator('[data-testid="stProgress"] p').filter(
        has_text=re.compile(r"^Finished \(done\)")).first.wait_for(timeout=LONG)
    page.locator('[data-testid="stSidebar"]').get_by_text(
        re.compile(r"run \d+: 784-12-10")).first.wait_for(timeout=60_000)
    wait_idle(page)
    no_exception(page)
    screenshot(page, "reload-then-trained")


def test_download_a_model_upload_it_back_and_use_it_everywhere(page, tmp_path):
    import mnist

    open_page(page, "Train")
    sidebar = page.locator('[data-testid="stSidebar"]')
    acc = sidebar.locator('[data-testid="stMetricValue"]').first.inner_text()
    button = page.get_by_role("button", name="Model (.npz)")
    button.wait_for(timeout=LONG)
    with page.expect_download(timeout=60_000) as info:
        button.click()
    download = info.value
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    assert path.suffix == ".npz"
    model = mnist.load_model(path)  # a valid model file (no pickle, checked arrays)
    assert model.sizes[0] == 784 and model.sizes[-1] == 10

    page.get_by_text("Upload a model file").click()
    uploader = page.locator('[data-testid="stFileUploader"]').filter(
        has_text="Model (.npz saved by MNIST Lab)")
    uploader.locator('input[type="file"]').set_input_files(str(path))
    use = page.get_by_role("button", name="Use this model")
    deadline = time.time() + 30
    while time.time() < deadline and use.is_disabled():
        page.wait_for_timeout(300)
    use.click()
    name = f"uploaded: {path.name}"
    sidebar.get_by_text(name).first.wait_for(timeout=LONG)
    wait_idle(page, 90)
    no_exception(page)
    # the same network: the same test accuracy, and both are in the picker
    assert sidebar.locator('[data-testid="stMetricValue"]').first.inner_text() == acc
    names = picker_options(page)
    assert name in names and len(names) >= 2, names
    screenshot(page, "uploaded-model")

    # every page works with the uploaded model as the current one
    for title in PAGES:
        open_page(page, title)
        no_exception(page, f"on the {title} page")
        assert sidebar.get_by_text(name).count() >= 1, f"{title}: not the current model"
