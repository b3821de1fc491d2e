"""Winograd's F(m x m, k x k) (mnist/nn/winograd.py): its transforms are exact, and a Conv2D
running on it computes what the definition (slow loops) and central differences say, in every
shape, padding, tile and chunking a layer meets, in float64; in float32 it stays within
rounding of the float64 answer.

The app's networks use it only where it is faster (5x5 kernels, 8 or more input channels):
`winograd_everywhere` lets these tests run it on small layers whose loops finish quickly.
"""

import numpy as np
import pytest

import mnist.nn.conv as conv_module
import mnist.nn.winograd as winograd_module
from mnist.nn.conv import Conv2D
from mnist.nn.winograd import Winograd, transforms
from tests.gradcheck import rel_error
from tests.nn.test_conv import assert_same_from_threads, check_gradients, conv, conv_loops


@pytest.fixture(params=[2, 4], ids=["3x3-on-2x2", "3x3-on-4x4"])
def winograd_everywhere(request, monkeypatch):
    """3x3 and 5x5 kernels run on Winograd whatever their channels (3x3 on 2x2 or 4x4
    output tiles, 5x5 on 2x2)."""
    monkeypatch.setattr(conv_module, "WINOGRAD", {3: (request.param, 1), 5: (2, 1)})
    monkeypatch.setattr(conv_module, "WINOGRAD_OVERHANG", 100.0)


def on_winograd(layer, x):
    layer.forward(x, training=True)
    return isinstance(layer._ws, Winograd)


# --------------------------------------------------------------------------- transforms
@pytest.mark.parametrize("m,k", [(2, 3), (4, 3), (2, 5)])
def test_transforms_compute_the_correlation_in_one_and_two_dimensions(m, k):
    At, G, Bt = transforms(m, k)
    a = m + k - 1
    assert At.shape == (m, a) and G.shape == (a, k) and Bt.shape == (a, a)
    rng = np.random.default_rng(m * 10 + k)
    d, g = rng.normal(size=a), rng.normal(size=k)
    expected = np.array([d[i:i + k] @ g for i in range(m)])
    assert np.allclose(At @ ((G @ g) * (Bt @ d)), expected, rtol=0, atol=1e-12)
    d2, g2 = rng.normal(size=(a, a)), rng.normal(size=(k, k))
    expected2 = np.array([[np.sum(d2[i:i + k, j:j + k] * g2) for j in range(m)]
                          for i in range(m)])
    y2 = At @ ((G @ g2 @ G.T) * (Bt @ d2 @ Bt.T)) @ At.T
    assert np.allclose(y2, expected2, rtol=0, atol=1e-12)


def test_a_tile_without_points_is_refused():
    with pytest.raises(ValueError, match="no Winograd points for F"):
        transforms(3, 5)


def test_the_app_runs_layers_with_many_channels_on_winograd():
    x8, x16 = (np.zeros((2, C, 14, 14), np.float32) for C in (8, 16))
    assert on_winograd(Conv2D(16, 32, 5, rng=0), x16)  # the bundled CNN's second layer
    assert on_winograd(Conv2D(8, 16, 5, rng=0), x8)
    assert on_winograd(Conv2D(16, 32, 3, rng=0), x16)
    assert not on_winograd(Conv2D(1, 16, 5, rng=0), np.zeros((2, 1, 28, 28), np.float32))
    assert not on_winograd(Conv2D(4, 8, 5, rng=0), np.zeros((2, 4, 14, 14), np.float32))
    assert not on_winograd(Conv2D(8, 16, 3, rng=0), x8)  # the small CNN's: no faster
    assert not on_winograd(Conv2D(16, 32, 4, rng=0), x16)  # no tile for even kernels
    x32 = np.zeros((2, 32, 7, 7), np.float32)  # 2x2 tiles would compute 8x8
    assert not on_winograd(Conv2D(32, 64, 3, rng=0), x32)
    assert on_winograd(Conv2D(32, 64, 3, "valid", rng=0), np.zeros((2, 32, 8, 8), np.float32))



# --------------------------------------------------------------------------- the layer
SHAPES = [(2, 3, 5, "same", 7, 9), (3, 2, 3, "valid", 8, 7), (1, 2, 5, "valid", 9, 6),
          (2, 2, 3, "same", 5, 5), (2, 3, 3, "same", 1, 2)]


@pytest.mark.parametrize("C,O,k,padding,H,W", SHAPES)
def test_forward_matches_the_loops(winograd_everywhere, C, O, k, padding, H, W):
    layer = conv(C, O, k, padding)
    x = np.random.default_rng(2).normal(size=(3, C, H, W))
    expected = conv_loops(x, layer.W, layer.b, padding)
    for training in (False, True):
        y = layer.forward(x, training)
        assert y.shape == expected.shape
        assert np.allclose(y, expected, rtol=1e-12, atol=1e-12)
    assert isinstance(layer._ws, Winograd)


@pytest.mark.parametrize("C,O,k,padding,H,W", SHAPES)
def test_gradients_match_central_differences(winograd_everywhere, C, O, k, padding, H, W):
    layer = conv(C, O, k, padding)
    x, w, dx = check_gradients(layer, H, W)
    assert isinstance(layer._ws, Winograd)
    assert np.allclose(layer.input_grad(w.copy(), x), dx, rtol=1e-10, atol=1e-12)


def test_chunks_give_what_one_pass_gives(monkeypatch):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(7, 8, 10, 10))
    d = rng.normal(size=(7, 4, 10, 10))
    results = []
    for chunk_bytes in (1 << 30, 1):  # everything at once; one image per chunk
        monkeypatch.setattr(winograd_module, "CHUNK_BYTES", chunk_bytes)
        layer = conv(8, 4, 5)
        y = layer.forward(x, training=True).copy()
        assert isinstance(layer._ws, Winograd)
        results.append((len(layer._ws.chunks), y, layer.backward(d.copy()).copy(),
                        layer.dW.copy(), layer.db.copy()))
    (one, *whole), (seven, *chunked) = results
    assert (one, seven) == (1, 7)
    for a, b in zip(whole, chunked):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-12)
    assert np.allclose(whole[0], conv_loops(x, layer.W, layer.b, "same"), atol=1e-12)


def test_float32_stays_within_rounding_of_float64():
    """The bundled CNN's second layer on its real sizes: the transforms' entries (up to 5)
    cost float32 no more than a different order of summation would."""
    x = np.random.default_rng(5).random((6, 16, 14, 14))
    d = np.random.default_rng(6).normal(size=(6, 32, 14, 14))
    results = []
    for dtype in (np.float32, np.float64):
        layer = Conv2D(16, 32, 5, "same", "he", 7, dtype)
        y = layer.forward(x.astype(dtype), training=True).copy()
        dx = layer.backward(d.astype(dtype))
        assert isinstance(layer._ws, Winograd)
        assert y.dtype == dtype and dx.dtype == dtype and layer.dW.dtype == dtype
        results.append([a.astype(np.float64) for a in (y, dx, layer.dW, layer.db)])
    for a32, a64 in zip(*results):
        assert rel_error(a32, a64) < 1e-5


def test_first_layer_skips_the_input_gradient_and_still_learns(winograd_everywhere):
    layer = conv(2, 3, 3)
    x = np.random.default_rng(8).normal(size=(2, 2, 6, 6))
    y = layer.forward(x, training=True)
    d = np.random.default_rng(9).normal(size=y.shape)
    dx = layer.backward(d.copy())
    dW, db = layer.dW.copy(), layer.db.copy()
    layer.need_dx = False
    layer.forward(x, training=True)
    assert layer.backward(d.copy()) is None and dx is not None
    assert np.allclose(layer.dW, dW, rtol=1e-12) and np.allclose(layer.db, d.sum((0, 2, 3)))
    assert np.allclose(db, d.sum((0, 2, 3)))


def test_an_empty_batch_goes_through(winograd_everywhere):
    layer = conv(2, 3, 3)
    for training in (False, True):
        y = layer.forward(np.zeros((0, 2, 6, 6)), training)
        assert y.shape == (0, 3, 6, 6)
    assert layer.backward(y).shape == (0, 2, 6, 6)
    assert np.all(layer.dW == 0) and np.all(layer.db == 0)


def test_training_buffers_follow_the_batch_shape(winograd_everywhere):
    layer = conv(2, 3, 3)
    for N, H in ((4, 5), (3, 5), (4, 7)):
        x = np.random.default_rng(N + H).normal(size=(N, 2, H, 5))
        y = layer.forward(x, training=True)
        assert isinstance(layer._ws, Winograd)
        assert np.allclose(y, conv_loops(x, layer.W, layer.b, "same"), atol=1e-12)
        assert layer.backward(np.ones(y.shape)).shape == x.shape


def test_backward_needs_a_training_forward(winograd_everywhere):
    layer = conv(2, 3, 3)
    y = layer.forward(np.ones((1, 2, 5, 5)))
    with pytest.raises(RuntimeError, match="training=True"):
        layer.backward(np.ones_like(y))


def test_one_layer_serves_several_threads():
    layer = Conv2D(8, 4, 5, rng=0)
    inputs = [np.random.default_rng(i).random((3, 8, 10, 10), dtype=np.float32)
              for i in range(6)]
    assert on_winograd(Conv2D(8, 4, 5, rng=0), inputs[0])
    assert_same_from_threads(layer.forward, inputs)
