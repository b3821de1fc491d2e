"""Conv2D's fast internals vs plain references: passes cut into chunks of images, the
input gradient read as strided windows of delta (mnist/nn/im2col.py InputGrad), and the
dW products bound to the delta buffer's memory.

The small shapes of tests/nn/test_conv.py fit in one chunk; here the chunk size is made
tiny so that a batch of 7 runs as chunks of 3, 3 and 1.
"""

import numpy as np
import pytest

import mnist.nn.conv as conv_module
from mnist.nn.conv import Conv2D
from mnist.nn.im2col import InputGrad
from tests.gradcheck import numeric_grad, rel_error
from tests.nn.test_conv import conv, conv_loops

SHAPES = [(2, 3, 3, "same", 6, 5), (3, 2, 5, "same", 7, 6), (2, 3, 4, "valid", 8, 7),
          (2, 2, 2, "same", 5, 6), (3, 2, 4, "same", 6, 7), (2, 2, 1, "valid", 3, 4)]


def chunks_of_three(monkeypatch, C, k, H, W, padding, itemsize=8):
    """Make 7 images run as chunks of 3, 3, 1 (CHUNK_BYTES = 2.5 images' patches)."""
    Ho, Wo = Conv2D(C, 1, k, padding).output_shape(H, W)
    monkeypatch.setattr(conv_module, "CHUNK_BYTES", int(2.5 * Ho * Wo * (k * k * C + 1)
                                                        * itemsize))


def col2im_reference(d, W, lo, hi):
    """dL/dx by its definition: every output pixel's delta @ W sent back through each
    tap to the input pixel it read, the padding (lo before, hi after) cut off.
    d (N, O, Ho, Wo), W (O, C, k, k)."""
    N, O, Ho, Wo = d.shape
    _, C, k, _ = W.shape
    H, Wd = Ho - lo - hi + k - 1, Wo - lo - hi + k - 1
    dxp = np.zeros((N, C, H + lo + hi, Wd + lo + hi))
    for i in range(k):
        for j in range(k):
            dxp[:, :, i:i + Ho, j:j + Wo] += np.einsum("nohw,oc->nchw", d, W[:, :, i, j])
    return dxp[:, :, lo:lo + H, lo:lo + Wd]


@pytest.mark.parametrize("C,O,k,padding,H,W", SHAPES)
def test_chunked_passes_match_the_loops_and_central_differences(monkeypatch, C, O, k,
                                                                  padding, H, W):
    rng = np.random.default_rng(20)
    x = rng.normal(size=(7, C, H, W))
    one = conv(C, O, k, padding)  # a whole batch in one chunk
    y1 = one.forward(x, training=True).copy()
    w = rng.normal(size=y1.shape)
    dx1 = one.backward(w.copy()).copy()
    chunks_of_three(monkeypatch, C, k, H, W, padding)
    layer = conv(C, O, k, padding)
    y = layer.forward(x, training=True)
    assert layer._ws.chunks == [(0, 3), (3, 3), (6, 1)]
    assert np.allclose(y, conv_loops(x, layer.W, layer.b, padding), rtol=1e-12, atol=1e-12)
    dx = layer.backward(w.copy())
    assert np.allclose(dx, col2im_reference(w, layer.W, *layer.pad), rtol=1e-12, atol=1e-12)
    assert np.allclose(dx, dx1, rtol=1e-12, atol=1e-12)
    assert np.allclose(layer.dWb, one.dWb, rtol=1e-12, atol=1e-12)

    def loss():
        return float(np.sum(w * layer.forward(x, training=True)))

    dW, db = layer.dW.copy(), layer.db.copy()
    assert rel_error(dW, numeric_grad(loss, layer.W)) < 1e-7
    assert rel_error(db, numeric_grad(loss, layer.b)) < 1e-7
    assert rel_error(dx, numeric_grad(loss, x)) < 1e-7


@pytest.mark.parametrize("C,O,k,padding,H,W", SHAPES)
def test_input_grad_over_chunks_is_backward_without_state(monkeypatch, C, O, k, padding,
                                                          H, W):
    chunks_of_three(monkeypatch, C, k, H, W, padding)
    rng = np.random.default_rng(21)
    layer = conv(C, O, k, padding)
    x = rng.normal(size=(7, C, H, W))
    d = rng.normal(size=layer.forward(x, training=True).shape)
    dx = layer.backward(d.copy()).copy()
    assert np.allclose(layer.input_grad(d.copy(), x), dx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k,lo,H,W,Ho,Wo", [(5, 2, 6, 7, 6, 7), (3, 0, 6, 5, 4, 3),
                                             (4, 1, 5, 6, 5, 6), (2, 0, 4, 4, 4, 4)])
def test_window_products_on_fewer_images_than_bound(k, lo, H, W, Ho, Wo):
    """The last chunk is short: images past it hold the previous chunk's delta, which no
    needed output may read. (k, lo) cover "same" for odd and even k, "valid", and a pad
    after only."""
    rng = np.random.default_rng(22)
    C, O = 3, 4
    Wb = rng.normal(size=(k * k * C + 1, O))
    W4 = Wb[:-1].reshape(k, k, C, O).transpose(3, 2, 0, 1)  # (O, C, k, k)
    grad = InputGrad(Wb, k, C, 4, H, W, lo, Ho, Wo)
    hi = Ho - H + k - 1 - lo
    for n in (4, 2, 1):
        d = rng.normal(size=(n, Ho, Wo, O))
        dx = grad(d)  # (n, H, W, C)
        expected = col2im_reference(d.transpose(0, 3, 1, 2), W4, lo, hi)
        assert np.allclose(dx.transpose(0, 3, 1, 2), expected, rtol=1e-12, atol=1e-12)


def test_backward_reads_the_delta_now_in_a_reused_buffer(monkeypatch):
    """The dW products are bound to delta's memory: new numbers in the same buffer, or a
    new array, must be what the next backward reads."""
    chunks_of_three(monkeypatch, 2, 3, 6, 6, "same", itemsize=4)
    rng = np.random.default_rng(23)
    layer = Conv2D(2, 3, 3, rng=0)
    fresh = Conv2D(2, 3, 3, rng=0)
    buf = np.empty((7, 6, 6, 3), np.float32)  # channels-last, as the layer above gives it
    delta = buf.transpose(0, 3, 1, 2)
    for step in range(3):
        x = rng.random((7, 2, 6, 6), dtype=np.float32)
        buf[...] = rng.normal(size=buf.shape)
        layer.forward(x, training=True)
        dx = layer.backward(delta).copy()
        fresh.forward(x, training=True)
        dx_fresh = fresh.backward(np.array(delta))  # another array every time
        assert np.array_equal(layer.dWb, fresh.dWb) and np.array_equal(dx, dx_fresh)


@pytest.mark.parametrize("C,k,padding", [(1, 3, "same"), (1, 5, "same"), (1, 2, "valid"),
                                         (3, 3, "same"), (2, 4, "valid")])
def test_products_in_slices_match_their_definition(monkeypatch, C, k, padding):
    """The products over patches run in slices of pixels (SLICE_BYTES): here slices of 7
    pixels, the last one short. The forward (pixel-major patches: more than one channel)
    against the loops, dW (accumulated over slices) against its definition, both against
    the layer computed in one product per chunk."""
    rng = np.random.default_rng(21)
    x = rng.normal(size=(3, C, 6, 5))
    one = conv(C, 4, k, padding)
    y1 = one.forward(x, training=True).copy()
    d = rng.normal(size=y1.shape)
    one.backward(d.copy())
    (_, whole), = one._ws._dW[1].items()
    assert len(whole.products) == 1
    monkeypatch.setattr(conv_module, "SLICE_BYTES", 7 * (k * k * C + 1) * 8)
    monkeypatch.setattr(conv_module, "MIN_SLICE_ROWS", 1)
    sliced = conv(C, 4, k, padding)
    y = sliced.forward(x, training=True)
    assert np.allclose(y, conv_loops(x, sliced.W, sliced.b, padding), rtol=1e-12, atol=1e-12)
    assert np.allclose(y, y1, rtol=1e-12, atol=1e-12)
    sliced.backward(d.copy())
    (_, chunk), = sliced._ws._dW[1].items()
    assert len(chunk.products) == -(-d[:, 0].size // 7) > 1
    lo, hi = sliced.pad
    xp = np.pad(x, ((0, 0), (0, 0), (lo, hi), (lo, hi)))
    Ho, Wo = y.shape[2:]
    dW = np.array([[[[np.sum(d[:, o] * xp[:, c, i:i + Ho, j:j + Wo]) for j in range(k)]
                     for i in range(k)] for c in range(C)] for o in range(4)])
    assert np.allclose(sliced.dW, dW, rtol=1e-12, atol=1e-12)
    assert np.allclose(sliced.db, d.sum(axis=(0, 2, 3)), rtol=1e-12, atol=1e-12)
    assert np.allclose(sliced.dWb, one.dWb, rtol=1e-12, atol=1e-12)
