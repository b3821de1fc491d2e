"""The fast path computes what the plain layers compute: outputs, loss, gradients, trajectory."""

import copy

import numpy as np
import pytest

from mnist.fast import FastPath, forward_backward_for
from mnist.model import MLP
from mnist.optim import make_optimizer


def batch(b=37, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.random((b, 784)).astype(dtype)
    y = rng.integers(0, 10, b)
    return x, y


def plain_grads(model, x, y, wd):
    loss, correct = model.forward_backward(x, y, wd)
    return loss, correct, {k: v.copy() for k, v in model.grads().items()}


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_loss_and_gradients_as_plain(activation, loss, dtype):
    model = MLP((784, 48, 24, 10), activation=activation, loss=loss, seed=3, dtype=dtype)
    x, y = batch(dtype=np.dtype(dtype))
    wd = 1e-3
    loss_p, correct_p, g_plain = plain_grads(model, x, y, wd)
    fast = FastPath(model, 64)  # bigger than the batch: the buffers' first rows are used
    loss_f, correct_f = fast(x, y, wd)
    tol = 1e-5 if dtype == "float32" else 1e-12
    assert correct_f == correct_p
    assert loss_f == pytest.approx(loss_p, rel=tol)
    for name, g in model.grads().items():
        scale = np.abs(g_plain[name]).max() + 1e-30
        assert np.abs(g - g_plain[name]).max() / scale < 10 * tol, name
    np.testing.assert_allclose(fast.forward(x), model.forward(x), rtol=tol, atol=tol)


def test_single_hidden_layer_and_no_hidden_layer():
    for sizes in [(784, 32, 10), (784, 10)]:
        model = MLP(sizes, seed=1, dtype="float64")
        x, y = batch(16, dtype=np.float64)
        loss_p, _, g_plain = plain_grads(model, x, y, 0.0)
        loss_f, _ = FastPath(model, 16)(x, y)
        assert loss_f == pytest.approx(loss_p, rel=1e-12)
        for name, g in model.grads().items():
            np.testing.assert_allclose(g, g_plain[name], rtol=1e-10, atol=1e-14)


def test_same_training_trajectory_for_several_steps():
    """Twenty SGD-momentum steps with the fast path land where the plain path lands."""
    plain = MLP((784, 128, 64, 10), seed=7)
    fast_model = copy.deepcopy(plain)
    opt_p = make_optimizer("momentum", plain.params(), 0.05)
    opt_f = make_optimizer("momentum", fast_model.params(), 0.05)
    fb = FastPath(fast_model, 32)
    losses_p, losses_f = [], []
    for step in range(20):
        x, y = batch(32, seed=100 + step)
        losses_p.append(plain.forward_backward(x, y, 1e-4)[0])
        opt_p.step()
        losses_f.append(fb(x, y, 1e-4)[0])
        opt_f.step()
    np.testing.assert_allclose(losses_f, losses_p, rtol=2e-5)
    for (p, _), (q, _) in zip(plain.params(), fast_model.params()):
        np.testing.assert_allclose(q, p, rtol=1e-4, atol=1e-6)


def test_dropout_falls_back_to_plain_and_batch_limit():
    model = MLP((784, 16, 10), dropout=0.5)
    assert not FastPath.supports(model)
    assert forward_backward_for(model, 8) == model.forward_backward
    with pytest.raises(ValueError, match="dropout"):
        FastPath(model, 8)
    fb = FastPath(MLP((784, 16, 10)), 8)
    with pytest.raises(ValueError, match="larger"):
        fb(*batch(9))
