"""A convolution and the max pool right after it, run as one step of a pass.

A 2x2 max pool over channels-last images compares numbers 8 or 16 channels apart in rows of
a few pixels: NumPy then loops over short strided runs, and pooling took as long as the
convolution before it (conv8k3-pool-conv16k3-pool-64 at batch 128: 2.0 ms forward and
backward for the first pool, 1.7 ms for the first convolution). Here the convolution writes
its output pixels grouped by their place in the s x s pooling window (im2col's order with s,
mnist/nn/im2col.py): place (p, q) of every window is one contiguous block. The maxima are
then s*s - 1 whole-array `np.maximum`s, and backward splits the gradient into those blocks,
which are already the rows the dW product wants. Nothing else changes: the same products,
the same numbers (the winner of a tie is still the first input in row-major order, as in
MaxPool2D and PyTorch).

Where the outputs go: with several channels the convolution runs in chunks of images
(Conv2D's) and each chunk is pooled while its outputs are still in cache. With one channel
(the first layer: every image's patches are kept, tap-major) the products run in blocks of
images and one place at a time (STREAM_BYTES), each block's outputs folded into the maxima
at once and each gradient block multiplied into dW at once: the batch's outputs are never
written out whole. For that first layer (no input gradient), forward and backward together
took 2.5 ms instead of 3.9 for the two layers (batch 128, one core).

`run_order` (mnist/nn/model.py) puts a `PooledConv` in a pass where a Conv2D meets a
MaxPool2D; it owns no parameters (the Conv2D's are filled). Where the pair cannot run this
way (Winograd's convolution, or windows that do not tile the output) it runs the two layers.
"""

from __future__ import annotations

import numpy as np

from mnist.nn.blas import Gemm
from mnist.nn.conv import Conv2D, _Buffers, check_images
from mnist.nn.im2col import nchw, nhwc
from mnist.nn.layers import Layer, _kept
from mnist.nn.pool import MaxPool2D, _beats, _split

_PLAIN = "plain"  # a training forward that ran the two layers one after the other


class PooledConv(Layer):
    """`pool.forward(conv.forward(x))` and its backward, in one pass (module docstring)."""

    def __init__(self, conv: Conv2D, pool: MaxPool2D):
        self.conv, self.pool = conv, pool
        self._ws = None  # training buffers for the last batch shape
        self._saved = None

    def __repr__(self) -> str:
        return f"PooledConv({self.conv!r}, {self.pool!r})"

    @property
    def need_dx(self) -> bool:
        return self.conv.need_dx

    def fuses(self, H: int, W: int) -> bool:
        """Whether an H x W input runs fused: im2col's convolution, windows tiling its output."""
        s = self.pool.size
        Ho, Wo = self.conv.output_shape(H, W)
        return Ho % s == 0 and Wo % s == 0 and not self.conv.winograd_tile(H, W)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        conv = self.conv
        x = check_images(x, "Conv2D", conv.in_channels)
        N, _, H, W = x.shape
        if not self.fuses(H, W):
            if training:
                self._saved = _PLAIN
            return self.pool.forward(conv.forward(x, training), training)
        if training:
            if self._ws is None or self._ws.key != (N, H, W) or not self._ws.bound(conv):
                self._ws = _PooledBuffers(self, N, H, W, keep=True)
            ws = self._saved = self._ws
        else:
            ws = _PooledBuffers(self, N, H, W, keep=False)
        if ws.conv.tap_major:
            ws.conv.load(nhwc(x))
            ws.conv.patches(0, N)  # one chunk
            ws.stream_forward()
        else:
            conv.convolve(nhwc(x), ws.conv, ws.pool_chunk)
        if ws.mg is not ws.m:
            np.copyto(ws.m, ws.mg[:, :, :ws.cut])
        return nchw(ws.m)

    def backward(self, delta: np.ndarray) -> np.ndarray | None:
        ws, self._saved = _kept(self._saved, self), None
        if ws is _PLAIN:
            return self.conv.backward(self.pool.backward(delta))
        ws.d = np.ascontiguousarray(nhwc(delta))  # (N, Ho/s, Wo/s, O)
        if ws.conv.tap_major and not self.conv.need_dx:
            ws.stream_backward()
            return None
        return self.conv.backprop(ws.conv, ws.dy_buffer(), ws.split_chunk)

    def input_grad(self, delta, x, out=None):
        y = self.conv.forward(x)
        return self.conv.input_grad(self.pool.input_grad(delta, y), x, y)


# One channel: the products and the pooling run a block of images and one place at a time,
# about this many bytes of outputs, so each product's outputs are pooled (and each gradient
# block multiplied into dW) while in cache; no output array the size of the batch's is made.
STREAM_BYTES = 128 << 10


class _PooledBuffers:
    """The arrays of one fused pass: the convolution's (`conv`, its pixels grouped by place
    in the pooling window), the maxima `m` (N, Ho/s, Wo/s, O) and, with keep, each maximum's
    place `win` and the gradient `dy` in the convolution's pixel order.

    The pooling runs over whole contiguous blocks of `conv`'s grid, junk columns included
    (mnist/nn/im2col.py PlacesIm2col): the maxima go to `mg` (N, Ho/s, grid width, O) and
    are copied out without the junk; dL/dm goes into `dg` alike, whose junk stays zero, so
    the junk pixels' gradient is zero.

    With one channel (tap-major patches, every image's in cols) the products run in blocks
    of images and places (`stream_forward`, `stream_backward`: STREAM_BYTES)."""

    def __init__(self, layer: PooledConv, N: int, H: int, W: int, keep: bool):
        conv, s = layer.conv, layer.pool.size
        Ho, Wo = conv.output_shape(H, W)
        O, dt = conv.out_channels, conv.Wb.dtype
        self.key, self.s, self.keep = (N, H, W), s, keep
        # one channel streams: no array of every output (module docstring)
        self.conv = cw = _Buffers(conv, N, H, W, s=s, outputs=conv.in_channels > 1)
        self.cut = Wo // s  # pixels of a grid row that are real
        grid = (N, Ho // s, cw.grid_w, O)
        self.m = np.empty((N, Ho // s, Wo // s, O), dt)
        self.mg = self.m if cw.junk == 0 else np.empty(grid, dt)
        if keep:
            self.win = np.zeros(grid, np.uint8)
            self.eq = np.empty(grid, bool)  # where win == p
            self.dg = None if cw.junk == 0 else np.zeros(grid, dt)
            self.d = None  # dL/dm of the batch being backpropagated
            self.dy = None  # dL/dy, made by the first backward through the convolution
        if cw.tap_major:
            self._streams(conv, N, Ho // s * cw.grid_w)

    def dy_buffer(self) -> np.ndarray:
        if self.dy is None:
            self.dy = np.empty((len(self.m) * self.conv.pix, self.m.shape[3]), self.m.dtype)
        return self.dy

    def d_grid(self, c0: int, n: int) -> np.ndarray:
        """dL/dm of images c0..c0+n on the grid of their pixels: d itself, or with junk
        columns (zero) in dg."""
        d = self.d[c0:c0 + n]
        if self.dg is None:
            return d
        np.copyto(self.dg[c0:c0 + n, :, :self.cut], d)
        return self.dg[c0:c0 + n]

    def bound(self, conv: Conv2D) -> bool:
        """Whether the products bound here still point at the conv's parameters."""
        return not self.conv.tap_major or (self.Wb is conv.Wb and self.dWb is conv.dWb)

    def _streams(self, conv: Conv2D, N: int, block: int) -> None:
        """The products of the blocks of images x places: (first image, images, [(place,
        forward product, dW product)])."""
        O, dt = conv.out_channels, conv.Wb.dtype
        per = max(1, STREAM_BYTES // (block * O * dt.itemsize))
        self.tmp = np.empty((min(per, N) * block, O), dt)
        self.Wb, self.dWb = conv.Wb, conv.dWb  # bound into the products
        cols = self.conv.cols  # (k*k + 1, N*pix): place p's images from p*N*block on
        self.streams = []
        for c0 in range(0, N, per):
            n = min(per, N - c0)
            out = self.tmp[:n * block]
            steps = []
            for p in range(self.s * self.s):
                A = cols[:, (p * N + c0) * block:(p * N + c0 + n) * block]
                steps.append((p, Gemm(A.T, conv.Wb, out), Gemm(A, out, conv.dWb)))
            self.streams.append((c0, n, steps))

    def stream_forward(self) -> None:
        """The maxima (and winners) of the whole batch, block by block from the patches."""
        for c0, n, steps in self.streams:
            m = self.mg[c0:c0 + n].reshape(-1, self.tmp.shape[1])
            win = self.win[c0:c0 + n].reshape(m.shape) if self.keep else None
            out = self.tmp[:len(m)]
            for p, product, _ in steps:
                product(1.0, 0.0)
                if p == 0:
                    np.copyto(m, out)
                    continue
                if self.keep:
                    _beats(out, m, p, win)
                np.maximum(m, out, out=m)

    def stream_backward(self) -> None:
        """dW, db from d = dL/dm, block by block: each place's share of d (d where that
        place won) into tmp, then into dW."""
        first = True
        for c0, n, steps in self.streams:
            d = self.d_grid(c0, n).reshape(-1, self.tmp.shape[1])
            win = self.win[c0:c0 + n].reshape(d.shape)
            eq = self.eq[c0:c0 + n].reshape(d.shape)
            out = self.tmp[:len(d)]
            for p, _, dW_product in steps:
                np.multiply(d, np.equal(win, p, out=eq), out=out)
                dW_product(1.0, 0.0 if first else 1.0)
                first = False
        if first:  # an empty batch
            self.dWb[...] = 0

    def pool_chunk(self, c0: int, n: int, y: np.ndarray) -> None:
        """The maxima of images c0..c0+n from their convolution y (by place)."""
        places = y.reshape(self.s * self.s, -1, y.shape[1])
        m = self.mg[c0:c0 + n].reshape(places.shape[1:])
        np.copyto(m, places[0])
        for p in range(1, len(places)):
            if self.keep:
                _beats(places[p], m, p, self.win[c0:c0 + n].reshape(m.shape))
            np.maximum(m, places[p], out=m)

    def split_chunk(self, c0: int, n: int, rows: np.ndarray) -> None:
        """rows (dy of images c0..c0+n, by place) = each maximum's gradient at its winner."""
        places = rows.reshape(self.s * self.s, -1, rows.shape[1])
        shape = places.shape[1:]
        _split(self.d_grid(c0, n).reshape(shape), self.win[c0:c0 + n].reshape(shape),
               list(places), self.eq[c0:c0 + n].reshape(shape))
