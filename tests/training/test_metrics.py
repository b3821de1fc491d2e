"""mnist.training.metrics.score: one pass over a labelled set, against the model's own
predictions."""

import numpy as np
import pytest

import mnist
from mnist.training.metrics import score


@pytest.fixture(scope="module")
def small():
    train, _ = mnist.load_mnist()
    return train.take(np.arange(3000), "small")


def test_score_agrees_with_the_model(small):
    model = mnist.MLP((784, 12, 10), seed=2)
    s = score(model, small)
    x, y = small.x(), small.y()
    probs = model.predict_proba(x)
    np.testing.assert_allclose(s["probs"], probs, rtol=1e-5, atol=1e-7)
    assert s["test_acc"] == pytest.approx(np.mean(probs.argmax(1) == y))
    assert s["confusion"].sum() == len(small)
    assert s["confusion"][3, 5] == np.sum((y == 3) & (probs.argmax(1) == 5))
    assert s["n"] == len(small) and s["preds"].tolist() == probs.argmax(1).tolist()
