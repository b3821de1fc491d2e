"""Shared by the Mistakes / Draw / Inside page tests: a small trained model put into an
AppTest session as the current model, so the tests do not depend on models/default.npz."""

from __future__ import annotations

import functools

import mnist
from tests.app_helpers import ROOT  # noqa: F401 (the page tests import it from here)


@functools.lru_cache(maxsize=None)
def small_model(seed: int = 0, hidden: tuple = (32,), epochs: int = 1, n: int = 6000):
    """A 784-32-10 net trained for a second on 6,000 MNIST digits (about 90% accurate:
    plenty of mistakes to look at, and it reads clear drawings of 0 and 1)."""
    return trained(mnist.TrainConfig(hidden=hidden, epochs=epochs, subset=n, val_fraction=0.0,
                                     seed=seed, lr=2e-3))


def trained(cfg) -> tuple:
    """(model, config, history) of `cfg` trained on the bundled MNIST training set."""
    run = mnist.train(cfg, mnist.load_mnist()[0])
    history = list(run)
    return run.model, cfg, history


def install_model(at, name: str = "test model", seed: int = 0, current: bool = True,
                  **kw):
    """Put a small trained model into the AppTest session (a ModelEntry, as the app does)."""
    from ui.session import ModelEntry

    model, cfg, history = small_model(seed, **kw)
    models = dict(at.session_state["models"]) if "models" in at.session_state else {}
    models[name] = ModelEntry(name, model, cfg, history,
                             dict(test_acc=0.0, test_loss=0.0), "trained")
    at.session_state["models"] = models
    if current:
        at.session_state["current_model"] = name
    at.session_state["_bundled_removed"] = True  # do not load the bundled model
    return model


def comparison_shows(at, pa, pb, y) -> tuple[list, list]:
    """The Mistakes page's "compare two models" metrics agree with predictions `pa` (model A)
    and `pb` (model B) on labels `y`; returns (fixed by B, introduced by B), digit indices."""
    fixed = [i for i in range(len(y)) if pa[i] != y[i] and pb[i] == y[i]]
    introduced = [i for i in range(len(y)) if pa[i] == y[i] and pb[i] != y[i]]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Fixed by B"] == f"{len(fixed):,}"
    assert metrics["Introduced by B"] == f"{len(introduced):,}"
    return fixed, introduced
