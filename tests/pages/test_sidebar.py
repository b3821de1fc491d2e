"""The shared sidebar and the home page say truthfully what they show: which test set an
accuracy is measured on (after a train-only upload it is still MNIST's), that the home
metric is a test accuracy, and a help text for every page (the browser test checks each page
shows its own)."""

import numpy as np

import mnist
from tests.app_helpers import ROOT, app, no_exception, page


def _session(at, use):
    from ui.session import ModelEntry

    train, test = mnist.load_mnist()
    own = train.take(np.arange(100), "mine.csv")
    model = mnist.MLP((784, 8, 10), seed=4)
    at.session_state["models"] = {"m": ModelEntry("m", model, None, [],
                                                  dict(test_acc=0.5, test_loss=0.1),
                                                  "trained")}
    at.session_state["current_model"] = "m"
    at.session_state["_bundled_removed"] = True
    at.session_state["data_override"] = dict(
        train=own, test=test if use == "train" else own, name="mine.csv", use=use,
        token=f"t-{use}")
    return model, (test if use == "train" else own)


def test_after_a_train_only_upload_the_sidebar_says_mnist_test_set():
    at = app()
    model, test = _session(at, "train")
    at.run()
    no_exception(at)
    (metric,) = at.sidebar.metric
    assert metric.label == "Test accuracy (MNIST test set)"
    assert metric.value == f"{np.mean(model.predict(test.x()) == test.y()):.2%}"
    at = app()
    model, own = _session(at, "test")
    at.run()
    (metric,) = at.sidebar.metric
    assert metric.label == "Test accuracy (your test set)"


def test_home_says_its_model_figure_is_a_test_accuracy():
    at = page("home").run()
    no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert "Current model's test accuracy" in metrics, metrics
    at = page("home")
    model, own = _session(at, "test")
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    expected = np.mean(model.predict(own.x()) == own.y())
    assert metrics["Current model's test accuracy (your test set)"] == f"{expected:.2%}"


def test_every_page_has_its_own_help_and_the_sidebar_shows_it():
    from ui.help import EVERY_PAGE, HELP, page_help

    titles = [t for _, t, _ in _pages()]
    assert sorted(HELP) == sorted(titles)
    firsts = [HELP[t].splitlines()[0] for t in titles]
    assert len(set(firsts)) == len(titles)  # each its own
    at = app().run()  # the home page, through the router
    no_exception(at)
    side = " ".join(m.value for m in at.sidebar.markdown)
    assert HELP["Home"].splitlines()[0] in side and "Start here" in side
    assert page_help("Dataset").startswith(HELP["Dataset"]) and EVERY_PAGE in page_help(None)


def _pages():
    """app.py's PAGES without running the router (it calls st.* at import)."""
    import ast

    tree = ast.parse((ROOT / "app.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PAGES":
            return ast.literal_eval(node.value)
    raise AssertionError("no PAGES in app.py")
