"""PooledConv (mnist/nn/convpool.py): a Conv2D and the MaxPool2D after it in one pass, its
pixels grouped by place in the pooling window, must compute what the two layers compute.

References: the slow loops of tests/nn/test_conv.py, the two plain layers run one after the
other, and central differences, in float64; im2col's grouped orders against the plain
(n, h, w) order regrouped by hand.
"""

import copy

import numpy as np
import pytest

import mnist.nn.conv as conv_module
import mnist.nn.convpool as convpool_module
from mnist.nn.conv import Conv2D
from mnist.nn.convpool import PooledConv
from mnist.nn.im2col import PlacesIm2col, im2col
from mnist.nn.layers import Activation
from mnist.nn.model import build_network, run_order
from mnist.nn.pool import Flatten, MaxPool2D
from tests.nn.test_conv import check_pass_gradients, conv, conv_loops, pool_loops

# (C, O, k, padding, H, pool): one channel (tap-major patches, a grid with junk columns)
# with 3x3, 5x5 (two junk columns), even kernels and windows of 3; several channels
# (pixel-major patches, no junk)
CASES = [(1, 3, 3, "same", 8, 2), (1, 2, 5, "same", 8, 2), (1, 2, 2, "valid", 9, 2),
         (1, 2, 4, "same", 6, 2), (1, 2, 3, "valid", 11, 3), (3, 4, 3, "same", 6, 2),
         (2, 3, 2, "same", 6, 3), (2, 3, 3, "valid", 8, 2),
         # Winograd's convolution (WINOGRAD_POOLED: 8 channels and more), its 2x2 output
         # tiles the pooling windows
         (8, 3, 3, "same", 8, 2), (8, 2, 5, "same", 8, 2), (16, 3, 3, "valid", 10, 2)]


def plain(layer, pool, x, d):
    """pool(conv(x)) and its backward through the two layers: (y, dx, dWb)."""
    twin = copy.deepcopy(layer)
    twin_pool = MaxPool2D(pool.size)
    y = twin_pool.forward(twin.forward(x, training=True), training=True).copy()
    dx = twin.backward(twin_pool.backward(d.copy()))
    return y, None if dx is None else dx.copy(), twin.dWb.copy()


def run_fused(fused, x, d):
    y = fused.forward(x, training=True).copy()
    dx = fused.backward(d.copy())
    return y, None if dx is None else dx.copy(), fused.conv.dWb.copy()


@pytest.fixture(autouse=True)
def any_junk(monkeypatch):
    """Fuse whatever the junk columns cost (on small images most are too costly)."""
    monkeypatch.setattr(convpool_module, "JUNK_MAX", 1.0)


@pytest.mark.parametrize("need_dx", [True, False])
@pytest.mark.parametrize("C,O,k,padding,H,s", CASES)
def test_it_computes_what_the_two_layers_compute(C, O, k, padding, H, s, need_dx):
    layer = conv(C, O, k, padding)
    layer.need_dx = need_dx
    fused = PooledConv(layer, MaxPool2D(s))
    assert fused.fuses(H, H)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, C, H, H))
    Ho, _ = layer.output_shape(H, H)
    d = rng.normal(size=(3, O, Ho // s, Ho // s))
    y, dx, dWb = run_fused(fused, x, d)
    y_ref, dx_ref, dWb_ref = plain(layer, fused.pool, x, d)
    loops, _ = pool_loops(conv_loops(x, layer.W, layer.b, padding), s)
    assert np.allclose(y, loops, rtol=1e-12, atol=1e-12)
    if fused._ws.kind == "winograd":  # where the plain conv runs on im2col: other rounding
        assert np.allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    else:
        assert np.array_equal(y, y_ref)
    assert np.allclose(dWb, dWb_ref, rtol=1e-12, atol=1e-12)
    assert (dx is None) == (not need_dx)
    if need_dx:
        assert np.allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    assert np.array_equal(fused.forward(x), y)  # inference: the same numbers


@pytest.mark.parametrize("C,O,k,padding,H,s", CASES[:4] + CASES[5:6])
def test_gradients_match_central_differences(C, O, k, padding, H, s):
    layer = conv(C, O, k, padding, seed=4)
    fused = PooledConv(layer, MaxPool2D(s))
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, C, H, H))
    Ho, _ = layer.output_shape(H, H)
    check_pass_gradients(fused, layer, x, rng.normal(size=(2, O, Ho // s, Ho // s)))


@pytest.mark.parametrize("C,k", [(1, 3), (3, 3)])
def test_ties_go_to_the_first_maximum_in_row_major_order(C, k):
    """Small integers make ties in most windows: the gradient goes where MaxPool2D sends it."""
    layer = conv(C, 2, k)
    layer.W = np.random.default_rng(6).integers(-1, 2, size=layer.W.shape)
    layer.b = 0
    fused = PooledConv(layer, MaxPool2D(2))
    x = np.random.default_rng(7).integers(0, 2, size=(4, C, 6, 6)).astype(float)
    d = np.random.default_rng(8).normal(size=(4, 2, 3, 3))
    y, dx, dWb = run_fused(fused, x, d)
    windows = conv_loops(x, layer.W, layer.b, "same").reshape(4, 2, 3, 2, 3, 2)
    tied = (windows == windows.max(axis=(3, 5), keepdims=True)).sum(axis=(3, 5)) > 1
    assert tied.sum() >= 10  # many ties indeed (15 to 36 of 72 windows)
    y_ref, dx_ref, dWb_ref = plain(layer, fused.pool, x, d)
    assert np.array_equal(y, y_ref)
    assert np.allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    assert np.allclose(dWb, dWb_ref, rtol=1e-12, atol=1e-12)


def test_chunked_passes_match(monkeypatch):
    """Several channels run in chunks of images (CHUNK_BYTES): each chunk pooled and split
    on its own, the last chunk's patches reused by backward."""
    layer = conv(2, 3, 3)
    fused = PooledConv(layer, MaxPool2D(2))
    rng = np.random.default_rng(9)
    x = rng.normal(size=(7, 2, 6, 6))
    d = rng.normal(size=(7, 3, 3, 3))
    monkeypatch.setattr(conv_module, "CHUNK_BYTES", int(2.5 * 36 * 19 * 8))
    y, dx, dWb = run_fused(fused, x, d)
    assert fused._ws.conv.chunks == [(0, 3), (3, 3), (6, 1)]
    y_ref, dx_ref, dWb_ref = plain(layer, fused.pool, x, d)
    assert np.array_equal(y, y_ref)
    assert np.allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    assert np.allclose(dWb, dWb_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("C,O,k,H,s", [(16, 4, 3, 12, 3), (1, 2, 3, 7, 2), (2, 2, 3, 8, 3),
                                       (1, 2, 5, 28, 2)])
def test_what_it_cannot_fuse_runs_as_the_two_layers(monkeypatch, C, O, k, H, s):
    """Winograd's convolution under a pool of 3 (its tiles are 2x2), windows that do not
    tile the output (odd sizes) and one channel with too many junk columns (5x5 on 28x28: 2
    in 16) run the plain layers, with their numbers. 3x3 on 28x28 (1 in 15) fuses."""
    monkeypatch.setattr(convpool_module, "JUNK_MAX", 0.1)
    assert PooledConv(conv(1, 2, 3), MaxPool2D(2)).fuses(28, 28)
    layer = conv(C, O, k)
    fused = PooledConv(layer, MaxPool2D(s))
    assert not fused.fuses(H, H)
    rng = np.random.default_rng(10)
    x = rng.normal(size=(2, C, H, H))
    d = rng.normal(size=(2, O, H // s, H // s))
    y, dx, dWb = run_fused(fused, x, d)
    assert fused._saved is None and fused._ws is None  # ran the plain layers
    y_ref, dx_ref, dWb_ref = plain(layer, fused.pool, x, d)
    assert np.array_equal(y, y_ref) and np.array_equal(dx, dx_ref)
    assert np.array_equal(dWb, dWb_ref)


def test_inference_writes_nothing_and_backward_needs_a_training_pass():
    layer = Conv2D(1, 3, 3, rng=0)
    fused = PooledConv(layer, MaxPool2D(2))
    x = np.random.default_rng(11).random((2, 1, 8, 8), dtype=np.float32)
    before = dict(vars(fused)), dict(vars(layer))
    y1, y2 = fused.forward(x), fused.forward(x)
    assert not np.shares_memory(y1, y2) and np.array_equal(y1, y2)
    assert (dict(vars(fused)), dict(vars(layer))) == before
    with pytest.raises(RuntimeError, match="training=True"):
        fused.backward(np.ones_like(y1))
    fused.forward(x, training=True)
    fused.backward(np.ones_like(y1))
    with pytest.raises(RuntimeError, match="training=True"):  # once per training forward
        fused.backward(np.ones_like(y1))


@pytest.mark.parametrize("C,need_dx", [(2, True), (1, False)])
def test_an_empty_batch_and_a_new_batch_size_go_through(C, need_dx):
    layer = conv(C, 3, 3)
    layer.need_dx = need_dx
    fused = PooledConv(layer, MaxPool2D(2))
    rng = np.random.default_rng(12)
    for n in (5, 0, 3):
        x = rng.normal(size=(n, C, 6, 6))
        d = rng.normal(size=(n, 3, 3, 3))
        y, dx, dWb = run_fused(fused, x, d)
        y_ref, dx_ref, dWb_ref = plain(layer, fused.pool, x, d)
        assert y.shape == (n, 3, 3, 3) and np.array_equal(y, y_ref)
        assert np.allclose(dWb, dWb_ref, rtol=1e-12, atol=1e-12)
        if need_dx:
            assert dx.shape == x.shape
            assert np.allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------ im2col
def grouped(cols_plain, N, Ho, Wo, s, tap_major):
    """The plain (n, h, w) pixel order of im2col regrouped as (p, q, n, h // s, w // s)."""
    if tap_major:
        t = cols_plain.reshape(-1, N, Ho // s, s, Wo // s, s)
        return t.transpose(0, 3, 5, 1, 2, 4).reshape(cols_plain.shape)
    t = cols_plain.reshape(N, Ho // s, s, Wo // s, s, -1)
    return t.transpose(2, 4, 0, 1, 3, 5).reshape(cols_plain.shape)


@pytest.mark.parametrize("C,k,s,same_dtype", [(1, 3, 2, True), (3, 3, 2, True),
                                              (2, 2, 3, True), (3, 3, 2, False)])
def test_im2col_groups_the_pixels_by_place(C, k, s, same_dtype):
    rng = np.random.default_rng(13)
    N, Ho = 2, 6
    xp = rng.normal(size=(N, Ho + k - 1, Ho + k - 1, C))
    K, M = k * k * C, N * Ho * Ho
    dt = np.float64 if same_dtype else np.float32  # another dtype: the slow copy
    shape = (K, M) if C == 1 else (M, K)
    base, cols = np.empty(shape, dt), np.empty(shape, dt)
    im2col(xp, k, base, C == 1, 1)
    im2col(xp, k, cols, C == 1, s)
    assert np.array_equal(cols, grouped(base, N, Ho, Ho, s, C == 1))


@pytest.mark.parametrize("k,s,Ho", [(3, 2, 6), (5, 2, 8), (2, 2, 4), (3, 3, 6), (4, 2, 6)])
def test_places_im2col_is_the_grouped_order_on_a_wider_grid(k, s, Ho):
    """PlacesIm2col's grid: each place's rows Ho/s + e pixels wide; without the junk
    columns it is im2col's grouped order. Two chunks of images fill their own parts."""
    rng = np.random.default_rng(14)
    N = 3
    xp = rng.normal(size=(N, Ho + k - 1, Ho + k - 1, 1))
    expected = np.empty((k * k, N * Ho * Ho))
    im2col(xp, k, expected, True, s)
    places = PlacesIm2col(N, Ho + k - 1, Ho + k - 1, k, s, np.float64)
    e = (k + s - 2) // s
    assert places.width == Ho // s + e
    cols = np.full((k * k + 1, N * s * s * (Ho // s) * places.width), np.nan)
    places(xp, cols[:, :2 * cols.shape[1] // N], 0, 2)
    places(xp, cols[:, 2 * cols.shape[1] // N:], 2, 1)
    for c0, n in ((0, 2), (2, 1)):
        part = cols[:k * k, c0 * cols.shape[1] // N:(c0 + n) * cols.shape[1] // N]
        real = part.reshape(k * k, s, s, n, Ho // s, places.width)[..., :Ho // s]
        want = expected.reshape(k * k, s, s, N, Ho // s, Ho // s)[:, :, :, c0:c0 + n]
        assert np.array_equal(real, want)
        assert np.all(np.isfinite(part))  # the junk columns read real memory too
    assert np.all(np.isnan(cols[k * k]))  # the ones row is the caller's


def test_junk_pixels_get_no_gradient():
    """A one-channel conv's grid has junk columns; their gradient rows stay zero, so they
    add nothing to dW, whatever numbers their patches hold."""
    layer = conv(1, 2, 5)
    fused = PooledConv(layer, MaxPool2D(2))
    rng = np.random.default_rng(15)
    fused.forward(rng.normal(size=(2, 1, 8, 8)), training=True)
    fused.backward(rng.normal(size=(2, 2, 4, 4)))
    ws = fused._ws.conv
    assert ws.junk == 2
    rows = ws.pixels(fused._ws.dy, 2)
    full = fused._ws.dy.reshape(2, 2, 2, 4, ws.grid_w, 2)
    assert np.all(full[:, :, :, :, 4:] == 0) and np.any(rows != 0)


# ------------------------------------------------------------------------ in a network
def test_run_order_fuses_each_conv_with_its_pool_and_relu_and_keeps_them():
    net = build_network("conv4k3-pool-conv6k3-pool3-16", seed=3, dtype="float64")
    order = run_order(net.layers)
    kinds = [type(layer) for layer in order]
    assert kinds[:3] == [PooledConv, PooledConv, Flatten]
    first = order[0]
    assert (first.conv, first.relu, first.pool) == tuple(net.layers[:3])
    assert order[1].pool.size == 3 and order[1].relu is net.layers[4]
    assert run_order(net.layers)[0] is first  # the same object: its buffers stay
    assert not any(isinstance(layer, PooledConv) for layer in net.layers)
    # a conv with no pool after it, or a non-ReLU activation between them, runs alone;
    # a conv right before its pool fuses with no ReLU (there is none after the pool)
    for spec, act, fused in (("conv2k3-conv2k3-pool-8", "relu", 1),
                             ("conv2k3-pool-8", "tanh", 0)):
        order = run_order(build_network(spec, activation=act).layers)
        assert sum(isinstance(layer, PooledConv) for layer in order) == fused
    layers = [Conv2D(1, 2, 3), MaxPool2D(2), Activation("tanh")]
    assert run_order(layers)[0].relu is None and len(run_order(layers)) == 2


@pytest.mark.parametrize("need_dx", [True, False])
@pytest.mark.parametrize("C,O,k,padding,H,s", [CASES[i] for i in (0, 1, 5, 6, 10)])
def test_with_its_relu_it_computes_what_the_three_layers_compute(C, O, k, padding, H, s,
                                                                need_dx):
    """relu(pool(conv(x))): biases shifted down so that many windows are all negative (their
    gradient is zero) and others positive."""
    layer = conv(C, O, k, padding, seed=19)
    layer.b = layer.b - 2.0
    layer.need_dx = need_dx
    fused = PooledConv(layer, MaxPool2D(s), Activation("relu"))
    rng = np.random.default_rng(20)
    x = rng.normal(size=(3, C, H, H))
    Ho, _ = layer.output_shape(H, H)
    d = rng.normal(size=(3, O, Ho // s, Ho // s))
    y, dx, dWb = run_fused(fused, x, d)
    twin, twin_pool, twin_relu = copy.deepcopy(layer), MaxPool2D(s), Activation("relu")
    y_ref = twin_relu.forward(twin_pool.forward(twin.forward(x, True), True), True).copy()
    dx_ref = twin.backward(twin_pool.backward(twin_relu.backward(d.copy())))
    assert 0.1 < np.mean(y_ref == 0) < 0.9
    assert np.array_equal(y, y_ref)
    assert np.allclose(dWb, twin.dWb, rtol=1e-12, atol=1e-12)
    if need_dx:
        assert np.allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    assert np.array_equal(fused.forward(x), y)


@pytest.mark.parametrize("C", [1, 3])
def test_with_its_relu_gradients_match_central_differences(C):
    layer = conv(C, 2, 3, seed=21)
    layer.b = layer.b - 1.0
    fused = PooledConv(layer, MaxPool2D(2), Activation("relu"))
    rng = np.random.default_rng(22)
    x = rng.normal(size=(2, C, 6, 6)) - 0.2
    check_pass_gradients(fused, layer, x, rng.normal(size=(2, 2, 3, 3)))


def test_only_a_relu_fuses():
    with pytest.raises(ValueError, match="ReLU"):
        PooledConv(Conv2D(1, 2, 3), MaxPool2D(2), Activation("tanh"))


def test_a_copy_of_a_trained_network_trains_on_its_own():
    """Copies drop the fused pair and its buffers (Conv2D.__getstate__) and make their own."""
    net = build_network("conv3k3-pool-8", seed=1, dtype="float64")
    rng = np.random.default_rng(16)
    x, y = rng.random((4, 784)), rng.integers(0, 10, 4)
    net.forward_backward(x, y)
    twin = copy.deepcopy(net)
    assert twin.layers[0].pooled is None
    twin.forward_backward(x, y)
    assert twin.layers[0].pooled is not net.layers[0].pooled
    assert twin.layers[0].pooled.conv is twin.layers[0]
    for (_, g1), (_, g2) in zip(net.params(), twin.params()):
        assert np.allclose(g1, g2, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [3, 5])
def test_one_channel_runs_in_blocks_of_images_and_places(monkeypatch, k):
    """One channel, no input gradient: products and pooling in blocks (STREAM_BYTES: here
    two images a block, so 5 images make blocks of 2, 2, 1), no output array of the batch."""
    layer = conv(1, 3, k)
    layer.need_dx = False
    fused = PooledConv(layer, MaxPool2D(2))
    rng = np.random.default_rng(17)
    x = rng.normal(size=(5, 1, 8, 8))
    d = rng.normal(size=(5, 3, 4, 4))
    block = 4 * (4 + (k - 1) // 2)  # a place's grid pixels per image
    monkeypatch.setattr(convpool_module, "STREAM_BYTES", 2 * block * 3 * 8)
    run_fused(fused, x, -d)  # a pass before: its gradients must not stay in dW
    y, dx, dWb = run_fused(fused, x, d)
    assert [(c0, n) for c0, n, _ in fused._ws.streams] == [(0, 2), (2, 2), (4, 1)]
    assert fused._ws.dy is None
    y_ref, _, dWb_ref = plain(layer, fused.pool, x, d)
    assert dx is None
    assert np.array_equal(y, y_ref)
    assert np.allclose(dWb, dWb_ref, rtol=1e-12, atol=1e-12)


def test_new_parameter_arrays_are_picked_up():
    """The one-channel products are bound to the conv's Wb and dWb: arrays put in their
    place are used (and filled) from the next pass on."""
    layer = conv(1, 2, 3)
    layer.need_dx = False
    fused = PooledConv(layer, MaxPool2D(2))
    rng = np.random.default_rng(18)
    x, d = rng.normal(size=(2, 1, 6, 6)), rng.normal(size=(2, 2, 3, 3))
    run_fused(fused, x, d)
    layer.Wb = layer.Wb * 2
    layer.dWb = np.zeros_like(layer.dWb)
    layer._views()
    y, _, dWb = run_fused(fused, x, d)
    y_ref, _, dWb_ref = plain(layer, fused.pool, x, d)
    assert np.array_equal(y, y_ref)
    assert np.allclose(layer.dWb, dWb_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("relu", [False, True])
def test_winograd_chunks_pool_and_split_each_chunk(monkeypatch, relu):
    """Winograd's passes in chunks of images (its CHUNK_BYTES: here 2 images of 5): the
    tiles of each chunk pooled, each chunk's gradient split into its tiles."""
    import mnist.nn.winograd as winograd_module

    layer = conv(8, 3, 3, seed=23)
    layer.b = layer.b - 0.5
    fused = PooledConv(layer, MaxPool2D(2), Activation("relu") if relu else None)
    rng = np.random.default_rng(24)
    x, d = rng.normal(size=(5, 8, 6, 6)), rng.normal(size=(5, 3, 3, 3))
    monkeypatch.setattr(winograd_module, "CHUNK_BYTES", 2 * 16 * 9 * 8 * 8)
    run_fused(fused, x, -d)  # a pass before: its gradients must not stay in dW
    y, dx, dWb = run_fused(fused, x, d)
    assert fused._ws.kind == "winograd" and fused._ws.conv.chunks == [(0, 2), (2, 2), (4, 1)]
    twin, twin_pool = copy.deepcopy(layer), MaxPool2D(2)
    y_ref = twin_pool.forward(twin.forward(x, True), True)
    if relu:
        y_ref = np.maximum(y_ref, 0)
        d = d * (y_ref > 0)
    dx_ref = twin.backward(twin_pool.backward(d.copy()))
    assert np.allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    assert np.allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    assert np.allclose(dWb, twin.dWb, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("C,relu", [(1, True), (8, False)])
def test_input_grad_is_backward_without_state(C, relu):
    """input_grad (saliency) gives backward's dL/dx and writes nothing on the layers."""
    layer = conv(C, 2, 3, seed=25)
    fused = PooledConv(layer, MaxPool2D(2), Activation("relu") if relu else None)
    rng = np.random.default_rng(26)
    x, d = rng.normal(size=(2, C, 6, 6)), rng.normal(size=(2, 2, 3, 3))
    grad = fused.input_grad(d.copy(), x)
    assert fused._saved is None and layer._saved is None
    fused.forward(x, training=True)
    assert np.allclose(grad, fused.backward(d.copy()), rtol=1e-12, atol=1e-12)
