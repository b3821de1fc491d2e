"""Activations, Dense and Dropout: forward values and gradients vs central differences."""

import numpy as np
import pytest

from mnist.nn.activations import ACTIVATIONS
from mnist.nn.layers import INITS, Activation, Dense, Dropout
from tests.gradcheck import numeric_grad, rel_error


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradient(name):
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, (4, 7))
    z[np.abs(z) < 1e-3] = 0.5  # keep away from the ReLU kink
    w = rng.normal(size=(4, 7))  # L = sum(w * f(z)) so dL/da = w

    def loss():
        return float(np.sum(w * ACTIVATIONS[name].forward(z.copy())))

    a = ACTIVATIONS[name].forward(z.copy())
    analytic = ACTIVATIONS[name].backward(w.copy(), a)
    assert rel_error(analytic, numeric_grad(loss, z)) < 1e-6


@pytest.mark.parametrize("name,f", [
    ("relu", lambda z: np.maximum(z, 0)),
    ("leaky_relu", lambda z: np.where(z > 0, z, 0.01 * z)),
    ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
    ("tanh", np.tanh),
])
def test_activation_values(name, f):
    z = np.linspace(-30, 30, 61)[None, :]
    assert np.allclose(ACTIVATIONS[name].forward(z.copy()), f(z), rtol=1e-12, atol=1e-15)


def test_sigmoid_extremes_are_finite_in_float32():
    z = np.array([[-1000.0, -90.0, 0.0, 90.0, 1000.0]], dtype=np.float32)
    a = ACTIVATIONS["sigmoid"].forward(z.copy())
    assert np.all(np.isfinite(a)) and a[0, 0] == 0 and a[0, -1] == 1 and a[0, 2] == 0.5


def test_dense_gradients():
    rng = np.random.default_rng(2)
    layer = Dense(5, 3, "xavier", rng, np.float64)
    layer.b[:] = rng.normal(size=3)
    x = rng.normal(size=(4, 5))
    w = rng.normal(size=(4, 3))

    def loss():
        return float(np.sum(w * layer.forward(x)))

    layer.forward(x, training=True)  # a training forward keeps x for backward
    dx = layer.backward(w.copy())
    assert rel_error(layer.dW, numeric_grad(loss, layer.W)) < 1e-6
    assert rel_error(layer.db, numeric_grad(loss, layer.b)) < 1e-6
    assert rel_error(dx, numeric_grad(loss, x)) < 1e-6


def test_dense_params_are_the_arrays_it_uses():
    layer = Dense(3, 2, "he", 0, np.float64)
    (W, dW), (b, db) = list(layer.params())
    assert W is layer.W and dW is layer.dW and b is layer.b and db is layer.db


def test_dropout_gradient_with_fixed_mask_and_scaling():
    rng = np.random.default_rng(3)
    drop = Dropout(0.4, rng=np.random.default_rng(5))
    a = rng.normal(size=(50, 40))
    out = drop.forward(a, training=True)
    mask = drop.mask.copy()
    kept = mask > 0
    # inverted dropout: survivors scaled by 1 / (1 - p), the rest zero
    assert np.allclose(out[kept], a[kept] / 0.6) and np.all(out[~kept] == 0)
    assert 0.5 < kept.mean() < 0.7
    w = rng.normal(size=a.shape)
    analytic = drop.backward(w.copy())
    numeric = numeric_grad(lambda: float(np.sum(w * a * mask)), a)
    assert rel_error(analytic, numeric) < 1e-6


def test_dropout_is_off_at_evaluation():
    drop = Dropout(0.5, rng=0)
    a = np.ones((3, 4))
    assert drop.forward(a, training=False) is a


def test_activation_layer_keeps_output_for_backward():
    layer = Activation("tanh")
    z = np.array([[0.3, -0.2]])
    a = layer.forward(z.copy(), training=True)
    assert np.allclose(layer.backward(np.ones_like(a)), 1 - np.tanh([[0.3, -0.2]]) ** 2)


@pytest.mark.parametrize("init", sorted(INITS))
def test_initialisations_have_the_documented_spread(init):
    W, b = INITS[init](400, 300, np.random.default_rng(0))
    if init == "uniform":
        assert W.min() >= -0.5 and W.max() < 0.5 and abs(W.std() - 1 / np.sqrt(12)) < 0.01
        assert b.min() >= -0.5 and b.max() < 0.5
    elif init == "normal001":
        assert abs(W.std() - 0.01) < 0.001 and np.all(b == 0)
    elif init == "xavier":
        limit = np.sqrt(6 / 700)
        assert np.abs(W).max() <= limit and abs(W.std() - limit / np.sqrt(3)) < 0.005
    elif init == "he":
        assert abs(W.std() - np.sqrt(2 / 400)) < 0.003 and np.all(b == 0)


def test_dense_keeps_weights_and_bias_in_one_array_through_copies():
    """W, b (and dW, db) are views of Wb (dWb): assignment copies in, and a deep copy or a
    pickle round trip keeps them views of the copy's own Wb."""
    import copy
    import pickle

    layer = Dense(5, 3, rng=0)
    assert np.shares_memory(layer.W, layer.Wb) and np.shares_memory(layer.b, layer.Wb)
    assert np.shares_memory(layer.dW, layer.dWb) and np.shares_memory(layer.db, layer.dWb)
    W = layer.W
    layer.W = np.ones((5, 3))
    layer.b = [1.0, 2.0, 3.0]
    assert layer.W is W and np.array_equal(layer.Wb[:-1], np.ones((5, 3)))
    np.testing.assert_array_equal(layer.Wb[-1], [1, 2, 3])
    for clone in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert not np.shares_memory(clone.Wb, layer.Wb)
        clone.Wb[...] = 7.0
        assert (clone.W == 7).all() and (clone.b == 7).all()  # still views of its own Wb
        assert (layer.W == 1).all()
    with pytest.raises(ValueError):
        layer.W = np.ones((4, 3))  # the shape is the layer's


def test_dense_backward_reuses_its_input_gradient_buffer():
    """dL/dx goes into a buffer kept between batches (new numbers each time); a new batch
    size or dtype gets a new one; copies keep none."""
    import copy

    rng = np.random.default_rng(31)
    layer = Dense(6, 4, rng=0)
    outs = []
    for n, dt in ((5, np.float32), (5, np.float32), (3, np.float32), (3, np.float64)):
        x = rng.normal(size=(n, 6)).astype(np.float32)
        layer.forward(x, training=True)
        delta = rng.normal(size=(n, 4)).astype(dt)
        dx = layer.backward(delta)
        assert dx.dtype == np.result_type(dt, np.float32)
        assert np.allclose(dx, delta.astype(np.float64) @ layer.W.T.astype(np.float64),
                           rtol=1e-5, atol=1e-6)
        outs.append(dx)
    assert outs[1] is outs[0] and outs[2] is not outs[1] and outs[3] is not outs[2]
    assert copy.deepcopy(layer)._dx is None
