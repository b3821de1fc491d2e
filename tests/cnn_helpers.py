"""Shared by the conv-net and ensemble page tests: a small CNN trained in about a second, an
AppTest session holding it, the small MLP and their ensemble, and a "bundled CNN" file for
`ui.cache` (so the tests do not depend on models/cnn.npz)."""

from __future__ import annotations

import functools
import io

import mnist
from mnist.training.metrics import score
from tests.page_helpers import small_model, trained

CNN_SPEC = "conv4k5-pool-conv8k3-pool-32"


@functools.lru_cache(maxsize=None)
def small_cnn(seed: int = 0, epochs: int = 1, n: int = 6000):
    """A conv4k5-pool-conv8k3-pool-32 net trained one epoch on 6,000 MNIST digits (about 90%
    accurate; it reads the synthetic drawings of 0, 1 and 7)."""
    return trained(mnist.TrainConfig(layers=CNN_SPEC, epochs=epochs, subset=n, val_fraction=0.0,
                                     seed=seed, lr=3e-3))


@functools.lru_cache(maxsize=None)
def cnn_file_bytes(seed: int = 0) -> bytes:
    """The small CNN as a model file (with its config, history and MNIST test scores)."""
    model, cfg, history = small_cnn(seed)
    _, test = mnist.load_mnist()
    sc = score(model, test)
    metrics = dict(test_acc=sc["test_acc"], test_loss=sc["test_loss"])
    buf = io.BytesIO()
    mnist.save_model(model, buf, config=cfg, history=history, metrics=metrics)
    return buf.getvalue()


def bundled_cnn(monkeypatch, tmp_path, seed: int = 0):
    """Point ui.cache's bundled CNN at a file holding the small CNN; returns its path."""
    from ui import cache

    path = tmp_path / "cnn.npz"
    path.write_bytes(cnn_file_bytes(seed))
    monkeypatch.setattr(cache, "CNN_MODEL_PATH", path)
    return path


def no_bundled_cnn(monkeypatch, tmp_path):
    """ui.cache finds no bundled CNN (whether or not models/cnn.npz ships)."""
    from ui import cache

    monkeypatch.setattr(cache, "CNN_MODEL_PATH", tmp_path / "missing" / "cnn.npz")


def install_cnn_session(at, current: str = "cnn"):
    """Put "mlp" (the small MLP), "cnn" (the small CNN) and "ensemble" (their mean) into the
    AppTest session, `current` the current model; returns the three models."""
    from ui.session import ModelEntry

    mlp, mcfg, mhist = small_model(0)
    cnn, ccfg, chist = small_cnn(0)
    ens = mnist.Ensemble([mlp, cnn], names=["mlp", "cnn"])
    models = dict(at.session_state["models"]) if "models" in at.session_state else {}
    models["mlp"] = ModelEntry("mlp", mlp, mcfg, mhist, dict(test_acc=0.0, test_loss=0.0),
                               "trained")
    models["cnn"] = ModelEntry("cnn", cnn, ccfg, chist, dict(test_acc=0.0, test_loss=0.0),
                               "trained")
    models["ensemble"] = ModelEntry("ensemble", ens, None, [],
                                    dict(test_acc=0.0, test_loss=0.0), "ensemble")
    at.session_state["models"] = models
    at.session_state["current_model"] = current
    at.session_state["_bundled_removed"] = True  # only these (the bundled ones: ui.cache)
    return mlp, cnn, ens
