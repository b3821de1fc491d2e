"""mnist.analysis.ensembles: an ensemble's score from its members' scores is the score of the
Ensemble itself (its probabilities and predictions, the loss to float precision)."""

import numpy as np
import pytest

import mnist
from mnist.analysis.ensembles import ensemble_score
from mnist.nn.model import Network
from mnist.training.metrics import score


def _members():
    """An MLP, a conv net and a linear net, each trained a moment; 600 test digits."""
    train, test = mnist.load_mnist()
    nets = []
    for seed, kw in enumerate([dict(hidden=(16,)), dict(layers="conv3k3-pool-8"),
                               dict(hidden=())]):
        run = mnist.train(mnist.TrainConfig(epochs=1, subset=800, val_fraction=0.0, seed=seed,
                                            **kw), train)
        list(run)
        nets.append(run.model)
    return nets, test.subset(600, seed=0)


def test_ensemble_score_is_the_ensembles_own_score():
    nets, part = _members()
    for members in (nets[:2], nets):
        ens = mnist.Ensemble(members)
        want = score(ens, part)
        got = ensemble_score([score(m, part) for m in members], part.y())
        # exactly the Ensemble's mean; score's are softmax(log mean): the same to rounding
        np.testing.assert_array_equal(got["probs"], ens.predict_proba(part.x()))
        np.testing.assert_allclose(got["probs"], want["probs"], rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(got["preds"], want["preds"])
        assert got["test_acc"] == want["test_acc"]
        assert got["test_loss"] == pytest.approx(want["test_loss"], rel=1e-5)
        np.testing.assert_array_equal(got["confusion"], want["confusion"])
        np.testing.assert_array_equal(got["per_class"], want["per_class"])
        assert got["n"] == want["n"] == 600
    one = score(nets[1], part)
    assert ensemble_score([one], part.y()) == one  # one member: its own score
    with pytest.raises(ValueError, match="shape"):
        ensemble_score([one, dict(probs=np.zeros((5, 10)))], part.y())
    assert isinstance(nets[1], Network) and nets[1].kind == "cnn"
