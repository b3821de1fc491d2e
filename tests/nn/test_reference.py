"""The vectorised MLP against the pure-Python reference (an independent, loop-only oracle)."""

import numpy as np
import pytest

from mnist.nn import reference
from mnist.data.bundled import load_mnist
from mnist.nn.model import MLP


@pytest.fixture(scope="module")
def samples():
    train, _ = load_mnist()
    idx = np.array([0, 1, 2, 7])
    return train.x(idx).astype(np.float64), train.y(idx)


def to_lists(net: MLP) -> dict:
    sd = net.state_dict()
    return dict(W1=sd["0.W"].tolist(), b1=sd["0.b"].tolist(), W2=sd["1.W"].tolist(),
                b2=sd["1.b"].tolist())


@pytest.mark.parametrize("activation,loss", [("sigmoid", "mse"), ("relu", "cross_entropy")])
def test_forward_and_backward_match_the_reference(samples, activation, loss):
    x, y = samples
    net = MLP((784, 32, 10), activation=activation, init="xavier", seed=7, loss=loss,
              dtype="float64")
    rng = np.random.default_rng(1)
    for layer in net.dense:
        layer.b[:] = rng.normal(0, 0.1, layer.b.shape)
    params = to_lists(net)
    for i in range(len(x)):
        _, out = reference.forward(params, x[i].tolist(), activation)
        assert np.allclose(net.forward(x[i:i + 1])[0], out, rtol=1e-10, atol=1e-12)
    ref_loss, ref_grads = reference.loss_and_grads(params, x.tolist(), y.tolist(), activation,
                                                   loss)
    loss_value, grads = net.loss_and_grads(x, y)
    assert loss_value == pytest.approx(ref_loss, rel=1e-10)
    for ours, theirs in [("0.W", "W1"), ("0.b", "b1"), ("1.W", "W2"), ("1.b", "b2")]:
        assert np.allclose(grads[ours], np.array(ref_grads[theirs]), rtol=1e-9, atol=1e-12)


def test_reference_training_lowers_the_loss_and_sgd_step_matches(samples):
    x, y = samples
    params = reference.init_params(seed=3)
    net = MLP((784, 32, 10), activation="sigmoid", loss="mse", dtype="float64")
    net.load_state_dict({"0.W": np.array(params["W1"]), "0.b": np.array(params["b1"]),
                         "1.W": np.array(params["W2"]), "1.b": np.array(params["b2"])})
    losses = [v for _, v in reference.train(params, x.tolist(), y.tolist(), epochs=3, lr=0.1)]
    assert losses[-1] < losses[0]
    for _ in range(3):  # the same three full-batch steps, vectorised
        net.loss_and_grads(x, y)
        for p, g in net.params():
            p -= 0.1 * g
    assert np.allclose(net.state_dict()["0.W"], np.array(params["W1"]), atol=1e-12)
    assert reference.predict(params, x[0].tolist()) == int(net.predict(x[:1])[0])


def test_reference_uses_no_numpy():
    import inspect
    src = inspect.getsource(reference)
    assert "import numpy" not in src and "from numpy" not in src
