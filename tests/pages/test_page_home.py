"""The Home page: runs, says what the app is for, links every page, shows sizes."""

from tests.app_helpers import app, no_exception, page


def test_home_page_runs_and_links_every_page():
    at = app().run()  # through the router, so the links resolve
    no_exception(at)
    assert at.title[0].value == "MNIST Lab"
    assert [h.value for h in at.subheader][:1] == ["Start here"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Training digits"] == "60,000" and metrics["Test digits"] == "10,000"
    links = [e for e in at.get("page_link")]
    assert len(links) == 6  # one per step: every page but home
    assert not [m.value for m in at.markdown if "coming soon" in m.value]


def test_home_page_on_its_own():
    at = page("home").run()
    no_exception(at)
    assert at.title[0].value == "MNIST Lab"
