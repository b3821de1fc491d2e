"""Conv2D, MaxPool2D, Flatten: gradients vs central differences, forward vs slow loops.

The slow references below are the definitions written out as loops over every output
number; the layers (im2col, channels-last memory, shifted BLAS products) must agree with
them, and their gradients with central differences, in float64.
"""

import copy
import pickle
import threading

import numpy as np
import pytest

from mnist.errors import ConfigError
from mnist.nn.conv import Conv2D
from mnist.nn.layers import Activation, Dense
from mnist.nn.pool import Flatten, MaxPool2D
from tests.gradcheck import numeric_grad, rel_error


# ----------------------------------------------------------------------- slow references
def conv_loops(x, W, b, padding):
    """PyTorch's Conv2d(stride=1) by its definition: a cross-correlation, zeros outside."""
    N, C, H, Wd = x.shape
    O, _, k, _ = W.shape
    lo, hi = ((k - 1) // 2, k - 1 - (k - 1) // 2) if padding == "same" else (0, 0)
    xp = np.zeros((N, C, H + lo + hi, Wd + lo + hi))
    xp[:, :, lo:lo + H, lo:lo + Wd] = x
    Ho, Wo = H + lo + hi - k + 1, Wd + lo + hi - k + 1
    y = np.zeros((N, O, Ho, Wo))
    for n in range(N):
        for o in range(O):
            for h in range(Ho):
                for w in range(Wo):
                    y[n, o, h, w] = np.sum(xp[n, :, h:h + k, w:w + k] * W[o]) + b[o]
    return y


def pool_loops(x, s):
    """Max over s x s windows (floor), and the first maximum of each window in row-major
    order (PyTorch's winner on a tie) as a 0/1 map."""
    N, C, H, W = x.shape
    Ho, Wo = H // s, W // s
    y = np.zeros((N, C, Ho, Wo))
    winner = np.zeros(x.shape)
    for n in range(N):
        for c in range(C):
            for h in range(Ho):
                for w in range(Wo):
                    win = x[n, c, h * s:(h + 1) * s, w * s:(w + 1) * s]
                    y[n, c, h, w] = win.max()
                    i, j = divmod(int(np.argmax(win)), s)  # argmax: the first maximum
                    winner[n, c, h * s + i, w * s + j] = 1
    return y, winner


def conv(C, O, k, padding="same", seed=0, dtype=np.float64):
    layer = Conv2D(C, O, k, padding, "xavier", np.random.default_rng(seed), dtype)
    layer.b = np.random.default_rng(seed + 1).normal(size=O)
    return layer


# ----------------------------------------------------------------------------- Conv2D
@pytest.mark.parametrize("C,O,k,padding,H,W", [
    (1, 3, 3, "same", 5, 6), (2, 3, 3, "valid", 6, 5), (3, 2, 5, "same", 6, 7),
    (2, 2, 2, "same", 5, 4), (2, 4, 1, "valid", 3, 3), (3, 2, 4, "valid", 7, 5),
])
def test_conv_forward_matches_the_loops(C, O, k, padding, H, W):
    layer = conv(C, O, k, padding)
    x = np.random.default_rng(2).normal(size=(3, C, H, W))
    expected = conv_loops(x, layer.W, layer.b, padding)
    channels_last = x.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)  # as layers pass it
    for xin in (x, channels_last, channels_last[:, :, ::-1, :][:, :, ::-1, :]):
        for training in (False, True):
            y = layer.forward(xin, training)
            assert y.shape == expected.shape
            assert np.allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("C,O,k,padding,H,W", [
    (1, 2, 3, "same", 5, 6), (2, 3, 3, "valid", 6, 5), (2, 2, 5, "same", 5, 7),
    (3, 2, 2, "same", 4, 5), (2, 2, 4, "valid", 6, 5),
])
def test_conv_gradients(C, O, k, padding, H, W):
    check_gradients(conv(C, O, k, padding), H, W)


def check_gradients(layer, H, W, seed=3):
    """The float64 layer's backward against central differences: dW, db and dx of
    L = sum(w * y) (so dL/dy = w) for a random x (2, C, H, W). Returns (x, w, dx)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, layer.in_channels, H, W))
    Ho, Wo = layer.output_shape(H, W)
    w = rng.normal(size=(2, layer.out_channels, Ho, Wo))
    return x, w, check_pass_gradients(layer, layer, x, w)


def check_pass_gradients(layer, conv, x, w):
    """`layer`'s backward (a Conv2D, or a pass it is part of) against central differences:
    `conv`'s dW and db and dL/dx of L = sum(w * layer.forward(x)) (so dL/dy = w), float64.
    Returns dx."""
    def loss():
        return float(np.sum(w * layer.forward(x, training=True)))

    layer.forward(x, training=True)
    dx = layer.backward(w.copy())
    assert dx.shape == x.shape
    assert rel_error(conv.dW, numeric_grad(loss, conv.W)) < 1e-7
    assert rel_error(conv.db, numeric_grad(loss, conv.b)) < 1e-7
    assert rel_error(dx, numeric_grad(loss, x)) < 1e-7
    return dx


def test_conv_input_gradient_without_blas(monkeypatch):
    """The shifted products fall back to NumPy (MNIST_NO_BLAS) with the same result."""
    layer = conv(3, 2, 3)
    x = np.random.default_rng(13).normal(size=(2, 3, 5, 6))
    d = np.random.default_rng(14).normal(size=(2, 2, 5, 6))
    layer.forward(x, training=True)
    with_blas = layer.backward(d.copy()).copy()
    monkeypatch.setenv("MNIST_NO_BLAS", "1")
    fresh = copy.deepcopy(layer)  # new buffers, so new products, made without BLAS
    fresh.forward(x, training=True)
    assert np.allclose(fresh.backward(d.copy()), with_blas, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("H,W,k,padding,expected", [
    (28, 28, 3, "same", (28, 28)), (28, 28, 5, "valid", (24, 24)), (7, 9, 3, "valid", (5, 7)),
    (7, 9, 4, "same", (7, 9)), (5, 5, 5, "valid", (1, 1)), (1, 1, 3, "same", (1, 1)),
])
def test_conv_output_shapes(H, W, k, padding, expected):
    layer = Conv2D(2, 3, k, padding)
    assert layer.output_shape(H, W) == expected
    y = layer.forward(np.ones((4, 2, H, W), np.float32))
    assert y.shape == (4, 3, *expected) and y.dtype == np.float32


def test_first_layer_skips_the_input_gradient():
    layer = conv(1, 2, 3)
    layer.need_dx = False
    layer.forward(np.ones((2, 1, 4, 4)), training=True)
    assert layer.backward(np.ones((2, 2, 4, 4))) is None
    assert np.allclose(layer.db, 2 * 16)  # db: the sum of delta over batch and pixels


def test_conv_float32_agrees_with_float64():
    x = np.random.default_rng(4).random((5, 3, 12, 11))
    d = np.random.default_rng(5).normal(size=(5, 4, 12, 11))
    results = []
    for dtype in (np.float32, np.float64):
        layer = Conv2D(3, 4, 3, "same", "he", 6, dtype)
        y = layer.forward(x.astype(dtype), training=True).copy()
        dx = layer.backward(d.astype(dtype))
        assert y.dtype == dtype and dx.dtype == dtype and layer.dW.dtype == dtype
        results.append([a.astype(np.float64) for a in (y, dx, layer.dW, layer.db)])
    for a32, a64 in zip(*results):
        assert rel_error(a32, a64) < 1e-5


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("C", [1, 3])
def test_conv_casts_other_input_dtypes_to_its_own(C, padding):
    layer = Conv2D(C, 2, 3, padding, rng=0)  # float32
    pixels = np.random.default_rng(15).integers(0, 256, (2, C, 6, 7)).astype(np.uint8)
    channels_last = pixels.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)
    expected = layer.forward(pixels.astype(np.float32))
    for x in (pixels, channels_last, pixels.astype(np.float64), channels_last / 1.0):
        y = layer.forward(x, training=True)
        assert y.dtype == np.float32 and np.allclose(y, expected, rtol=1e-6)


def test_conv_weights_are_views_of_one_array_that_copies_keep():
    layer = Conv2D(2, 3, 3, rng=0)
    assert layer.W.shape == (3, 2, 3, 3) and layer.b.shape == (3,)
    assert np.shares_memory(layer.W, layer.Wb) and np.shares_memory(layer.b, layer.Wb)
    (W, dW), (b, db) = layer.params()
    assert W is layer.W and dW is layer.dW and b is layer.b and db is layer.db
    W[0, 1, 2, 0] = 7.0  # in place, through the view, as an optimizer does
    layer.b = [1, 2, 3]  # assignment copies in
    assert layer.W[0, 1, 2, 0] == 7.0 and list(layer.b) == [1, 2, 3] and layer.W is W
    for other in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert np.shares_memory(other.W, other.Wb) and not np.shares_memory(other.W, layer.Wb)
        assert np.array_equal(other.W, layer.W) and np.array_equal(other.b, layer.b)
        x = np.ones((1, 2, 4, 4), np.float32)
        assert np.array_equal(other.forward(x), layer.forward(x))


def test_he_init_uses_the_patch_fan_in():
    layer = Conv2D(16, 64, 5, init="he", rng=0)
    assert abs(layer.W.std() - np.sqrt(2 / (16 * 25))) < 0.003 and np.all(layer.b == 0)


# --------------------------------------------------------------------------- MaxPool2D
@pytest.mark.parametrize("s,H,W", [(2, 6, 4), (2, 5, 7), (3, 7, 6), (1, 3, 2)])
def test_pool_forward_and_gradient(s, H, W):
    rng = np.random.default_rng(7)
    x = rng.permutation(2 * 3 * H * W).reshape(2, 3, H, W) / 10.0  # distinct: no ties
    pool = MaxPool2D(s)
    expected, _ = pool_loops(x, s)
    assert np.array_equal(pool.forward(x), expected)
    w = rng.normal(size=expected.shape)

    def loss():
        return float(np.sum(w * pool.forward(x, training=True)))

    pool.forward(x, training=True)
    dx = pool.backward(w.copy())
    assert dx.shape == x.shape
    assert rel_error(dx, numeric_grad(loss, x, h=1e-4)) < 1e-8


def test_pool_ties_go_to_the_first_maximum_in_row_major_order():
    x = np.array([[[[0, 5, 3, 3, 2, 0],
                    [5, 0, 3, 3, 2, 2],
                    [1, 1, 0, 7, 4, 4],
                    [7, 1, 7, 7, 4, 4]]]], dtype=float)
    pool = MaxPool2D(2)
    y = pool.forward(x, training=True)
    dx = pool.backward(np.arange(1, 7, dtype=float).reshape(1, 1, 2, 3))
    expected, winner = pool_loops(x, 2)
    assert np.array_equal(y, expected)
    assert np.array_equal(dx != 0, winner == 1)
    assert np.array_equal(dx[0, 0], [[0, 1, 2, 0, 3, 0],
                                      [0, 0, 0, 0, 0, 0],
                                      [0, 0, 0, 5, 6, 0],
                                      [4, 0, 0, 0, 0, 0]])


@pytest.mark.parametrize("s", [2, 3])
def test_pool_on_many_ties_matches_the_loops(s):
    """Small integers (most windows tie), as after a ReLU on a blank background."""
    x = np.random.default_rng(8).integers(0, 3, (3, 4, 9, 8)).astype(np.float32)
    pool = MaxPool2D(s)
    y = pool.forward(x, training=True)
    dx = pool.backward(np.ones(y.shape, np.float32))
    expected, winner = pool_loops(x.astype(np.float64), s)
    assert np.array_equal(y, expected) and np.array_equal(dx, winner)


def test_pool_works_on_any_memory_layout():
    x = np.random.default_rng(9).normal(size=(2, 3, 6, 8))
    pool = MaxPool2D(2)
    for xin in (x, np.asfortranarray(x), x.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)):
        y = pool.forward(xin, training=True)
        d = np.ones(y.shape)
        assert np.array_equal(y, pool_loops(x, 2)[0])
        assert np.array_equal(pool.backward(d), pool_loops(x, 2)[1])


# ----------------------------------------------------------------------------- Flatten
def test_flatten_round_trip_in_pytorch_order():
    x = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5)
    flat = Flatten()
    for xin in (x, x.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)):  # any memory
        out = flat.forward(xin, training=True)
        assert out.shape == (2, 60) and np.array_equal(out, x.reshape(2, 60))
        back = flat.backward(out * 2)
        assert back.shape == x.shape and np.array_equal(back, 2 * x)


def test_flatten_reuses_its_training_buffers_with_fresh_numbers():
    """Channels-last input in training: the flattened copy and backward's go into buffers
    kept between batches (same arrays, new numbers); a new batch size gets new ones; copies
    of the layer keep none."""
    rng = np.random.default_rng(30)
    flat = Flatten()
    seen = []
    for n in (3, 3, 2):
        x = rng.normal(size=(n, 4, 3, 5)).transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)
        out = flat.forward(x, training=True)
        assert np.array_equal(out, np.ascontiguousarray(x).reshape(n, 60))
        back = flat.backward(out * 2)
        assert np.array_equal(back, 2 * x) and back.transpose(0, 2, 3, 1).flags.c_contiguous
        seen.append((out, back))
    assert seen[1][0] is seen[0][0] and np.shares_memory(seen[1][1], seen[0][1])
    assert seen[2][0] is not seen[1][0]
    assert copy.deepcopy(flat)._out is None
    assert not np.shares_memory(flat.forward(x), seen[2][0])  # inference: a fresh array


# ------------------------------------------------------------------------------- stack
def test_small_cnn_gradients():
    """conv-relu-pool-conv(valid)-relu-pool-flatten-dense end to end vs central differences."""
    rng = np.random.default_rng(10)
    layers = [conv(1, 3, 3, "same", 11), Activation("tanh"), MaxPool2D(2),
              conv(3, 4, 2, "valid", 12), Activation("relu"), MaxPool2D(2), Flatten(),
              Dense(4 * 2 * 2, 5, "xavier", rng, np.float64)]
    x = rng.normal(size=(3, 1, 10, 10))
    w = rng.normal(size=(3, 5))

    def run(training):
        a = x
        for layer in layers:
            a = layer.forward(a, training)
        return a

    def loss():
        return float(np.sum(w * run(True)))

    run(True)
    delta = w.copy()
    for layer in reversed(layers):
        delta = layer.backward(delta)
    assert rel_error(delta, numeric_grad(loss, x)) < 1e-6
    for layer in layers:
        for p, g in layer.params():
            assert rel_error(g, numeric_grad(loss, p)) < 1e-6


# --------------------------------------------------------------- state and concurrency
def test_inference_keeps_no_state_and_returns_fresh_arrays():
    x = np.random.default_rng(11).random((2, 2, 6, 6), dtype=np.float32)
    for layer in (Conv2D(2, 3, 3, rng=0), MaxPool2D(2), Flatten()):
        before = {k: v for k, v in vars(layer).items()}
        y1 = layer.forward(x)
        y2 = layer.forward(x)
        # a fresh array per call (Flatten may return a view of its input: nothing of its own)
        assert not np.shares_memory(y1, y2) or np.shares_memory(y1, x)
        assert {k: v for k, v in vars(layer).items()} == before  # nothing written
        with pytest.raises(RuntimeError, match="training=True"):
            layer.backward(np.ones_like(y1))


def test_input_grad_is_backward_without_state():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(2, 3, 7, 6))
    for layer in (conv(3, 2, 3, "valid"), conv(3, 2, 4, "same"), MaxPool2D(2), Flatten()):
        y = layer.forward(x, training=True).copy()
        d = rng.normal(size=y.shape)
        dx = layer.backward(d.copy()).copy()
        assert np.allclose(layer.input_grad(d.copy(), x, y), dx, rtol=1e-12, atol=1e-12)


def test_one_layer_serves_several_threads():
    layers = [Conv2D(1, 4, 3, rng=0), MaxPool2D(2), Conv2D(4, 4, 3, "valid", rng=1),
              Flatten()]
    inputs = [np.random.default_rng(i).random((3, 1, 12, 12), dtype=np.float32)
              for i in range(6)]

    def run(x):
        for layer in layers:
            x = layer.forward(x)
        return x

    assert_same_from_threads(run, inputs)


def assert_same_from_threads(run, inputs, calls: int = 30):
    """run(x) from a thread per input, `calls` times each, gives what it gave alone."""
    expected = [run(x) for x in inputs]
    errors = []

    def hammer(i):
        for _ in range(calls):
            if not np.array_equal(run(inputs[i]), expected[i]):
                errors.append(i)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_an_empty_batch_goes_through():
    layers = [conv(1, 2, 3), MaxPool2D(2), conv(2, 3, 3, "valid"), Flatten()]
    for training in (False, True):
        a = np.zeros((0, 1, 10, 10))
        for layer in layers:
            a = layer.forward(a, training)
        assert a.shape == (0, 3 * 3 * 3)
    for layer in reversed(layers):
        a = layer.backward(a)
    assert a.shape == (0, 1, 10, 10) and np.all(layers[0].dW == 0)


def test_training_buffers_follow_the_batch_shape():
    layer = conv(2, 3, 3)
    for N in (4, 3, 4):
        x = np.random.default_rng(N).normal(size=(N, 2, 5, 5))
        y = layer.forward(x, training=True)
        assert np.allclose(y, conv_loops(x, layer.W, layer.b, "same"))
        dx = layer.backward(np.ones(y.shape))
        assert dx.shape == x.shape


# -------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs,word", [
    (dict(in_channels=0), "in_channels"), (dict(out_channels=2.5), "out_channels"),
    (dict(kernel="3"), "kernel"), (dict(kernel=True), "kernel"),
    (dict(padding="full"), "padding"), (dict(init="glorot"), "init"),
    (dict(dtype=np.int32), "dtype"),
])
def test_conv_bad_arguments_are_named(kwargs, word):
    args = dict(in_channels=1, out_channels=2, kernel=3)
    args.update(kwargs)
    with pytest.raises(ConfigError, match=word):
        Conv2D(**args)


def test_pool_bad_size_is_named():
    for size in (0, -2, 2.0, None):
        with pytest.raises(ConfigError, match="size"):
            MaxPool2D(size)


@pytest.mark.parametrize("layer,x,match", [
    (Conv2D(1, 2, 3), np.ones((2, 784)), "N, C, H, W"),
    (Conv2D(3, 2, 3), np.ones((2, 1, 5, 5)), "3 input channels"),
    (Conv2D(1, 2, 5, "valid"), np.ones((2, 1, 4, 9)), "smaller than"),
    (MaxPool2D(3), np.ones((1, 1, 2, 5)), "at least 3x3"),
    (MaxPool2D(2), np.ones((4, 4)), "N, C, H, W"),
    (Flatten(), np.ones(3), "Flatten"),
])
def test_bad_inputs_say_what_is_wrong(layer, x, match):
    for training in (False, True):
        with pytest.raises(ValueError, match=match):
            layer.forward(x, training)
