"""Ensembles: the mean of the members' probabilities, answering like a model (predict,
predict_proba, evaluate, score, evaluate_loss), an ensemble of one = that model, a save/load
round trip, read-only."""

import io

import numpy as np
import pytest

import mnist
from mnist import ConfigError, Ensemble, MLP, TrainConfig, load_model, save_model
from mnist.nn.model import build_network
from mnist.training.metrics import score


@pytest.fixture(scope="module")
def members():
    return [MLP((784, 16, 10), seed=1), build_network("conv4k3-pool-conv6k3-pool-12", seed=2),
            MLP((784, 8, 10), seed=3, activation="tanh", loss="mse")]


@pytest.fixture(scope="module")
def digits():
    return mnist.load_mnist()[1].take(np.arange(300), "digits")


def test_probabilities_are_the_mean_of_the_members(members, digits):
    ens = Ensemble(members)
    x = digits.x()
    each = np.stack([m.predict_proba(x) for m in members])  # (3, N, 10)
    probs = ens.predict_proba(x)
    assert probs.shape == (len(x), 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, each.mean(0), rtol=1e-6, atol=1e-7)
    assert np.array_equal(ens.predict(x), probs.argmax(1))
    assert ens.members == members and len(ens) == 3 and ens.kind == "ensemble"
    assert ens.names == ["model 1", "model 2", "model 3"]
    assert ens.n_params == sum(m.n_params for m in members)
    assert ens.spec == " + ".join(m.spec for m in members)


def test_it_is_scored_like_a_model(members, digits):
    """mnist.evaluate, score and evaluate_loss read its loss (cross-entropy of the mean
    probabilities) and its predictions."""
    ens = Ensemble(members)
    x, y = digits.x(), digits.y()
    probs = ens.predict_proba(x).astype(np.float64)
    nll = float(np.mean(-np.log(probs[np.arange(len(y)), y])))
    ev = mnist.evaluate(ens, digits)
    assert ev["loss"] == pytest.approx(nll, rel=1e-4)
    assert ev["accuracy"] == pytest.approx(np.mean(probs.argmax(1) == y))
    assert np.array_equal(ev["predictions"], ens.predict(x))
    s = score(ens, digits)
    np.testing.assert_allclose(s["probs"], probs, rtol=1e-5, atol=1e-7)
    loss, acc = mnist.evaluate_loss(ens, digits)
    assert loss == pytest.approx(nll, rel=1e-4) and acc == ev["accuracy"]


def test_an_ensemble_of_one_is_that_model(members, digits):
    x = digits.x()
    for m in members:
        one = Ensemble([m])
        assert np.array_equal(one.predict_proba(x), m.predict_proba(x))
        assert np.array_equal(one.predict(x), m.predict(x))
        assert mnist.evaluate(one, digits)["loss"] == mnist.evaluate(m, digits)["loss"]


def test_averaging_helps_when_members_disagree(digits):
    """Three members each right on a different third of the digits, confidently wrong
    elsewhere: the average is right wherever two are."""
    x, y = digits.x(), digits.y()

    class Stub:
        n_inputs, n_classes, dtype, chunk_rows, meta = 784, 10, np.dtype(np.float32), 1000, {}

        def __init__(self, right):
            self.right = right

        def predict_proba(self, x):
            p = np.full((len(x), 10), 0.02, np.float32)
            n = np.arange(len(x))
            p[n, np.where(self.right[:len(x)], y[:len(x)], (y[:len(x)] + 1) % 10)] = 0.82
            return p
    third = np.arange(len(y)) % 3
    stubs = [Stub(third != k) for k in range(3)]  # each wrong on one third
    assert all(np.mean(s.predict_proba(x).argmax(1) == y) < 0.7 for s in stubs)
    assert np.mean(Ensemble(stubs).predict(x) == y) == 1.0


def test_save_and_load_keep_the_members(members, digits):
    ens = Ensemble(members, names=["small", "cnn", "tanh"])
    buf = io.BytesIO()
    save_model(ens, buf, metrics={"test_acc": 0.5})
    back = load_model(buf.getvalue())
    x = digits.x()
    assert isinstance(back, Ensemble) and back.names == ["small", "cnn", "tanh"]
    assert [m.architecture() for m in back.members] == [m.architecture() for m in members]
    assert np.array_equal(back.predict_proba(x), ens.predict_proba(x))


def test_read_only_and_checked(members, digits):
    ens = Ensemble(members)
    with pytest.raises(ConfigError, match="an ensemble is not trained"):
        mnist.train(TrainConfig(epochs=1), digits, model=ens)
    with pytest.raises(ValueError, match="not trained"):
        ens.forward(digits.x(), training=True)
    with pytest.raises(ValueError, match="no layers of its own to trace"):
        ens.forward(digits.x(), trace=[])
    assert list(ens.params()) == []
    with pytest.raises(ValueError, match="at least one model"):
        Ensemble([])
    with pytest.raises(ValueError, match="not ensembles"):
        Ensemble([ens])
    with pytest.raises(ValueError, match="different inputs to different classes"):
        Ensemble([MLP((784, 10)), MLP((784, 5))])
    with pytest.raises(ValueError, match="2 names for 3 members"):
        Ensemble(members, names=["a", "b"])


def test_float64_members_make_a_float64_ensemble():
    ens = Ensemble([MLP((784, 4, 10), dtype="float64"), MLP((784, 4, 10), seed=1)])
    assert ens.predict_proba(np.zeros((2, 784), np.float32)).dtype == np.float64
