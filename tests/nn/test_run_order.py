"""A ReLU right before a max pool runs after it, and a conv meeting its pool (and that ReLU)
runs with them as one PooledConv (mnist.nn.model.run_order): the network's outputs and
gradients are those of its layers run in their own order (the fused layers' dW sums its
pixels in another order)."""

import numpy as np
import pytest

from mnist.nn.convpool import PooledConv
from mnist.nn.layers import Activation
from mnist.nn.model import build_network, run_order
from mnist.nn.pool import Flatten, MaxPool2D


def literal_pass(net, x, y):
    """Forward and backward through net.layers in their own order: (outputs, gradients)."""
    a = net._as_input(x)
    for layer in net.layers:
        a = layer.forward(a, training=True)
    out = a.copy()
    _, delta = net.loss_fn.loss_and_delta(a, y)
    for layer in reversed(net.layers):
        delta = layer.backward(delta)
    return out, {k: g.copy() for k, g in net.grads().items()}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pool_before_relu_gives_the_same_numbers(dtype):
    spec = "conv4k3-pool-conv6k3-pool3-16"
    net = build_network(spec, seed=3, dtype=dtype)
    order = run_order(net.layers)
    assert [type(layer) for layer in order][:3] == [PooledConv, PooledConv, Flatten]
    assert order[0].relu is net.layers[1]  # swapped, then fused with conv and pool
    assert [type(layer) for layer in net.layers][1] is Activation  # the model's own order kept
    rng = np.random.default_rng(0)
    # shifted down so that many pooling windows hold only negative pre-activations
    x = (rng.random((5, 784)) - 0.6).astype(dtype)
    y = rng.integers(0, 10, 5)
    out, grads = literal_pass(net, x, y)
    assert np.array_equal(net.forward(x), out)
    trace = []
    assert np.array_equal(net.forward(x, trace=trace), out)
    assert [layer for layer, _, _ in trace] == net.layers
    net.forward_backward(x, y)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for name, g in net.grads().items():
        assert np.allclose(g, grads[name], rtol=tol, atol=tol), name


def test_other_activations_keep_their_order():
    for act in ("tanh", "sigmoid", "leaky_relu"):
        net = build_network("conv2k3-pool-8", activation=act)
        assert run_order(net.layers) == net.layers
    net = build_network("conv2k3-conv2k3-pool-8")
    order = run_order(net.layers)
    assert order[:2] == net.layers[:2] and isinstance(order[2], PooledConv)
    assert order[2].conv is net.layers[2] and order[2].pool is net.layers[4]
