"""Conv2D, MaxPool2D, Flatten against torch.nn with identical weights: forward values, input
and parameter gradients, and a small CNN's training trajectory, in float64 and float32."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mnist.nn.convpool as convpool
from mnist.nn.conv import Conv2D
from mnist.nn.layers import Activation, Dense
from mnist.nn.model import run_order
from mnist.nn.pool import Flatten, MaxPool2D

torch.set_num_threads(1)

# (rtol, atol) per dtype: float64 agrees to rounding; float32 to its precision over sums of
# a few hundred products
TOL = {np.float64: (1e-10, 1e-12), np.float32: (2e-4, 2e-5)}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def close(ours, theirs, dtype):
    rtol, atol = TOL[dtype]
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape
    scale = max(float(np.abs(theirs).max()), 1.0)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol * scale)


def torch_conv(layer, dtype):
    t = torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel,
                        padding=layer.padding).to(TORCH_DTYPE[dtype])
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.W)))
        t.bias.copy_(torch.from_numpy(layer.b.copy()))
    return t


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's copy
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("C,O,k,padding", [
    (1, 8, 3, "same"), (8, 16, 3, "same"), (3, 4, 5, "same"), (1, 6, 5, "valid"),
    (4, 2, 3, "valid"), (16, 32, 5, "same"), (2, 3, 4, "same"),
])
def test_conv2d(C, O, k, padding, dtype):
    rng = np.random.default_rng(C * 100 + O * 10 + k)
    layer = Conv2D(C, O, k, padding, "he", rng, dtype)
    layer.b = rng.normal(size=O)
    t = torch_conv(layer, dtype)
    x = rng.normal(size=(5, C, 13, 11)).astype(dtype)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    yt = t(xt)
    y = layer.forward(x, training=True)
    close(y, yt, dtype)
    d = rng.normal(size=y.shape).astype(dtype)
    yt.backward(torch.from_numpy(d))
    dx = layer.backward(d)
    close(dx, xt.grad, dtype)
    close(layer.dW, t.weight.grad, dtype)
    close(layer.db, t.bias.grad, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("values", ["real", "ties"])
@pytest.mark.parametrize("size,H,W", [(2, 28, 28), (2, 7, 9), (3, 10, 8)])
def test_maxpool2d(size, H, W, values, dtype):
    rng = np.random.default_rng(size * H * W)
    x = rng.normal(size=(4, 5, H, W)) if values == "real" else rng.integers(0, 3, (4, 5, H, W))
    x = x.astype(dtype)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    yt = F.max_pool2d(xt, size)
    pool = MaxPool2D(size)
    y = pool.forward(x, training=True)
    assert np.array_equal(y, yt.detach().numpy())
    d = rng.normal(size=y.shape).astype(dtype)
    yt.backward(torch.from_numpy(d))
    assert np.array_equal(pool.backward(d), xt.grad.numpy())  # the same winners, exactly


def our_cnn(dtype, rng):
    return [Conv2D(1, 8, 3, "same", "he", rng, dtype), Activation("relu"), MaxPool2D(2),
            Conv2D(8, 16, 5, "valid", "he", rng, dtype), Activation("relu"), MaxPool2D(2),
            Flatten(), Dense(16 * 2 * 2, 10, "xavier", rng, dtype)]


def torch_cnn(layers, dtype):
    net = torch.nn.Sequential(torch_conv(layers[0], dtype), torch.nn.ReLU(),
                              torch.nn.MaxPool2d(2), torch_conv(layers[3], dtype),
                              torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                              torch.nn.Linear(64, 10).to(TORCH_DTYPE[dtype]))
    with torch.no_grad():
        net[7].weight.copy_(torch.from_numpy(layers[7].W.T.copy()))
        net[7].bias.copy_(torch.from_numpy(layers[7].b.copy()))
    return net


def forward_backward(layers, x, y, fused=False):
    """Our layers' pass: in their own order, or (fused) in the order a network runs them,
    the first conv and its pool as one PooledConv (mnist/nn/model.py run_order)."""
    if fused:
        layers = run_order(layers)
        assert layers[0].fuses(*x.shape[2:])
    a = x
    for layer in layers:
        a = layer.forward(a, training=True)
    out = a.copy()
    probs = np.exp(a - a.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    delta = probs
    delta[np.arange(len(y)), y] -= 1
    delta /= len(y)
    for layer in reversed(layers):
        delta = layer.backward(delta)
    return out, delta


@pytest.fixture
def any_junk(monkeypatch):
    """Let the first conv fuse with its pool on these 16x16 images (one junk column in 9:
    more than JUNK_MAX allows)."""
    monkeypatch.setattr(convpool, "JUNK_MAX", 1.0)


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_small_cnn_forward_backward(dtype, fused, any_junk):
    rng = np.random.default_rng(1)
    layers = our_cnn(dtype, rng)
    net = torch_cnn(layers, dtype)
    x = rng.random((6, 1, 16, 16)).astype(dtype)
    x[:, :, :3] = 0  # a blank band: ties in the pools, as on real digits
    y = rng.integers(0, 10, 6)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    out_t = net(xt)
    F.cross_entropy(out_t, torch.from_numpy(y)).backward()
    out, dx = forward_backward(layers, x, y, fused)
    close(out, out_t, dtype)
    close(dx, xt.grad, dtype)
    theirs = [p.grad for p in net.parameters()]
    ours = [g for layer in layers for _, g in layer.params()]
    ours[-2] = ours[-2].T  # Dense keeps W as (in, out), torch as (out, in)
    for g, gt in zip(ours, theirs):
        close(g, gt, dtype)


@pytest.mark.parametrize("fused", [False, True])
def test_small_cnn_sgd_trajectory(fused, any_junk):
    """20 plain SGD steps on the same batches end at the same weights."""
    dtype = np.float64
    rng = np.random.default_rng(2)
    layers = our_cnn(dtype, rng)
    net = torch_cnn(layers, dtype)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for step in range(20):
        x = rng.random((8, 1, 16, 16))
        y = rng.integers(0, 10, 8)
        forward_backward(layers, x, y, fused)
        for layer in layers:
            for p, g in layer.params():
                p -= 0.1 * g
        opt.zero_grad()
        F.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt.step()
    ours = [p for layer in layers for p, _ in layer.params()]
    ours[-2] = ours[-2].T
    for p, pt in zip(ours, net.parameters()):
        close(p, pt, dtype)
