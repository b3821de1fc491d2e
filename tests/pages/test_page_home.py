"""The Home page: runs, says what the app is for, links every existing page, shows sizes."""

from tests.app_helpers import ROOT, app, no_exception, page


def test_home_page_runs_and_links_the_existing_pages():
    at = app().run()  # through the router, so the links resolve
    no_exception(at)
    assert at.title[0].value == "MNIST Lab"
    assert [h.value for h in at.subheader][:1] == ["Start here"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Training digits"] == "60,000" and metrics["Test digits"] == "10,000"
    links = [e for e in at.get("page_link")]
    soon = [m.value for m in at.markdown if "coming soon" in m.value]
    existing = [p for p in ("dataset", "train", "search", "mistakes", "draw", "inside")
                if (ROOT / "pages" / f"{p}.py").exists()]
    assert len(links) == len(existing)
    assert len(links) + len(soon) == 6


def test_home_page_on_its_own():
    at = page("home").run()
    no_exception(at)
    assert at.title[0].value == "MNIST Lab"
