"""A convolution and the max pool right after it, run as one step of a pass.

A 2x2 max pool over channels-last images compares numbers 8 or 16 channels apart in rows of
a few pixels: NumPy then loops over short strided runs, and pooling took as long as the
convolution before it (conv8k3-pool-conv16k3-pool-64 at batch 128: 2.0 ms forward and
backward for the first pool, 1.7 ms for the first convolution). Here the convolution writes
its output pixels grouped by their place in the s x s pooling window (im2col's order with s,
mnist/nn/im2col.py): place (p, q) of every window is one contiguous block. The maxima are
then s*s - 1 whole-array `np.maximum`s, each chunk pooled while its outputs are still in
cache, and backward splits the gradient into those blocks, which are already the rows the
dW product wants. Nothing else changes: the same products, the same numbers (the winner of a
tie is still the first input in row-major order, as in MaxPool2D and PyTorch).

`run_order` (mnist/nn/model.py) puts a `PooledConv` in a pass where a Conv2D meets a
MaxPool2D; it owns no parameters (the Conv2D's are filled). Where the pair cannot run this
way (Winograd's convolution, or windows that do not tile the output) it runs the two layers.
"""

from __future__ import annotations

import numpy as np

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
            if self._ws is None or self._ws.key != (N, H, W):
                self._ws = _PooledBuffers(self, N, H, W, keep=True)
            ws = self._saved = self._ws
        else:
            ws = _PooledBuffers(self, N, H, W, keep=False)
        conv.convolve(nhwc(x), ws.conv, ws.pool_chunk)
        return nchw(ws.m)

    def backward(self, delta: np.ndarray) -> np.ndarray | None:
        ws, self._saved = _kept(self._saved, self), None
        if ws is _PLAIN:
            return self.conv.backward(self.pool.backward(delta))
        ws.d = np.ascontiguousarray(nhwc(delta))  # (N, Ho/s, Wo/s, O)
        return self.conv.backprop(ws.conv, ws.dy, ws.split_chunk)

    def input_grad(self, delta, x, out=None):
        y = self.conv.forward(x)
        return self.conv.input_grad(self.pool.input_grad(delta, y), x, y)


class _PooledBuffers:
    """The arrays of one fused pass: the convolution's (`conv`, its pixels grouped by place
    in the pooling window), the maxima `m` (N, Ho/s, Wo/s, O) and, with keep, each maximum's
    place `win` and the gradient `dy` in the convolution's pixel order.

    The pooling runs over whole contiguous blocks of `conv`'s grid, junk columns included
    (mnist/nn/im2col.py PlacesIm2col): the maxima go to `mg` (N, Ho/s, grid width, O) and
    are copied out without the junk; dL/dm goes into `dg` alike, whose junk stays zero, so
    the junk pixels' gradient is zero."""

    def __init__(self, layer: PooledConv, N: int, H: int, W: int, keep: bool):
        conv, s = layer.conv, layer.pool.size
        Ho, Wo = conv.output_shape(H, W)
        O, dt = conv.out_channels, conv.Wb.dtype
        self.key, self.s, self.keep = (N, H, W), s, keep
        self.conv = _Buffers(conv, N, H, W, s=s)
        self.cut = Wo // s  # pixels of a grid row that are real
        grid = (N, Ho // s, self.conv.grid_w, O)
        self.m = np.empty((N, Ho // s, Wo // s, O), dt)
        self.mg = self.m if self.conv.junk == 0 else np.empty(grid, dt)
        if keep:
            self.win = np.zeros(grid, np.uint8)
            self.eq = np.empty(grid, bool) if s > 1 else None  # _split, 4+ places
            self.dy = np.empty((N * self.conv.pix, O), dt)
            self.dg = None if self.conv.junk == 0 else np.zeros(grid, dt)
            self.d = None  # dL/dm of the batch being backpropagated

    def pool_chunk(self, c0: int, n: int, y: np.ndarray) -> None:
        """The maxima of images c0..c0+n from their convolution y (by place)."""
        places = y.reshape(self.s * self.s, -1, y.shape[1])
        m = self.mg[c0:c0 + n].reshape(places.shape[1:])
        np.copyto(m, places[0])
        for p in range(1, len(places)):
            if self.keep:
                _beats(places[p], m, p, self.win[c0:c0 + n].reshape(m.shape))
            np.maximum(m, places[p], out=m)
        if self.mg is not self.m:
            np.copyto(self.m[c0:c0 + n], self.mg[c0:c0 + n, :, :self.cut])

    def split_chunk(self, c0: int, n: int, rows: np.ndarray) -> None:
        """rows (dy of images c0..c0+n, by place) = each maximum's gradient at its winner."""
        places = rows.reshape(self.s * self.s, -1, rows.shape[1])
        d = self.d[c0:c0 + n]
        if self.dg is not None:
            np.copyto(self.dg[c0:c0 + n, :, :self.cut], d)
            d = self.dg[c0:c0 + n]
        shape = places.shape[1:]
        eq = None if self.eq is None else self.eq[c0:c0 + n].reshape(shape)
        _split(d.reshape(shape), self.win[c0:c0 + n].reshape(shape), list(places), eq)
