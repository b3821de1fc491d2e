"""Pooling and flattening for images in PyTorch's layout: MaxPool2D and Flatten.

Like Conv2D (mnist/nn/conv.py) they take `(N, C, H, W)` and hand on `(N, C, H', W')` views of
channels-last memory, the layout they work in (mnist/nn/im2col.py says why), and follow the
`Layer` interface of mnist/nn/layers.py. In training a layer reuses its buffers from one
batch to the next; inference allocates per call and writes nothing to the layer.
"""

from __future__ import annotations

import numpy as np

from mnist.nn.conv import check_count, check_images
from mnist.nn.im2col import copy_runs, nchw, nhwc
from mnist.nn.layers import Layer, _buffer, _kept


class MaxPool2D(Layer):
    """The maximum of each size x size window, stride = size (PyTorch's MaxPool2d(size)).

    Rows and columns that do not fill a window are dropped (floor, as PyTorch does).
    Backward routes each gradient to the window's maximum; on a tie one input wins, the
    first in row-major order, as in PyTorch. The window is scanned across its columns, then
    down its rows, each time keeping the earlier input unless a later one is strictly
    greater: the first column holding each row's maximum, then the first row holding the
    window's, which is the row-major first.
    """

    def __init__(self, size: int = 2):
        self.size = check_count("size", size)
        self._ws = None  # training buffers for the last input shape
        self._saved = None

    def __repr__(self) -> str:
        return f"MaxPool2D({self.size})"

    def __getstate__(self):
        return dict(self.__dict__, _ws=None, _saved=None)

    def output_shape(self, H: int, W: int) -> tuple[int, int]:
        return H // self.size, W // self.size

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = nhwc(check_images(x, "MaxPool2D"))  # (N, H, W, C)
        key = (x.shape, x.dtype)
        if not training:
            return nchw(self._pool(x, _PoolBuffers(self, *key), keep=False))
        if self._ws is None or self._ws.key != key:
            self._ws = _PoolBuffers(self, *key)
        self._saved = self._ws
        return nchw(self._pool(x, self._ws, keep=True))

    def backward(self, delta: np.ndarray) -> np.ndarray:
        ws, self._saved = _kept(self._saved, self), None
        return nchw(self._route(nhwc(delta), ws))

    def input_grad(self, delta, x, out=None):
        x = nhwc(check_images(x, "MaxPool2D"))
        ws = _PoolBuffers(self, x.shape, x.dtype)
        self._pool(x, ws, keep=True)
        return nchw(self._route(nhwc(delta), ws))

    def _pool(self, x, ws, keep: bool):
        """The maxima (N, Ho, Wo, C); with keep, the winners' offsets go into ws: which
        column of each window row (N, Ho*s, Wo, C) and which row of each window."""
        s = self.size
        cols = ws.windows(x)  # (N, Ho*s, Wo, s, C)
        t, v = ws.t, ws.v  # each window row's maximum so far; the next column
        copy_runs(t, cols[:, :, :, 0])
        for q in range(1, s):
            copy_runs(v, cols[:, :, :, q])  # contiguous: compares run over long rows
            if keep:
                _beats(v, t, q, ws.col_win)
            np.maximum(t, v, out=t)
        N, Ho, Wo, C = ws.m.shape
        rows = t.reshape(N, Ho, s, Wo, C)
        m = ws.m
        best = rows[:, :, 0]  # the maximum so far: the first row, then m
        for p in range(1, s):
            if keep:
                _beats(rows[:, :, p], best, p, ws.row_win)
            best = np.maximum(best, rows[:, :, p], out=m)
        if s == 1:
            np.copyto(m, best)
        return m

    def _route(self, d, ws):
        """dL/dx (N, H, W, C) from d = dL/d(max) (N, Ho, Wo, C): each window's gradient to
        its winner, zero elsewhere."""
        s = self.size
        N, Ho, Wo, C = ws.m.shape
        dt = ws.dt  # (N, Ho, s, Wo, C): to each window row
        _split(d, ws.row_win, [dt[:, :, p] for p in range(s)], ws.row_eq)
        _split(dt.reshape(N, Ho * s, Wo, C), ws.col_win, ws.parts, ws.col_eq)
        dx = ws.dx
        for q in range(s):
            copy_runs(ws.windows(dx)[:, :, :, q], ws.parts[q])
        dx[:, Ho * s:] = 0  # rows and columns outside every window (odd sizes) get nothing
        dx[:, :, Wo * s:] = 0
        return dx


def _beats(v, best, offset: int, index):
    """Record in `index` (uint8) that input `offset`, with values v, wins wherever it beats
    `best` strictly. Offsets come in increasing order: the winner is the largest that won."""
    if offset == 1:
        np.greater(v, best, out=index.view(bool))  # 0 or 1
    else:
        np.maximum(index, np.greater(v, best).view(np.uint8) * np.uint8(offset), out=index)


def _split(d, index, parts, eq):
    """parts[p] = d where input p won, else 0. The parts sum to d exactly (one nonzero
    each), so the first is d minus the others: one multiply fewer."""
    if len(parts) == 1:
        np.copyto(parts[0], d)
    for p in range(1, len(parts)):
        won = index.view(bool) if len(parts) == 2 else np.equal(index, p, out=eq)
        np.multiply(d, won, out=parts[p])
        if p == 1:
            np.subtract(d, parts[1], out=parts[0])
        else:
            parts[0] -= parts[p]


class _PoolBuffers:
    """The arrays one MaxPool2D pass over an (N, H, W, C) batch writes."""

    def __init__(self, pool: MaxPool2D, shape, dtype):
        N, H, W, C = shape
        s = pool.size
        Ho, Wo = pool.output_shape(H, W)
        if Ho < 1 or Wo < 1:
            raise ValueError(f"MaxPool2D({s}) needs images of at least {s}x{s}, got {H}x{W}")
        self.key = (shape, dtype)
        self.s = s
        half = (N, Ho * s, Wo, C)  # one number per window row
        self.t, self.v = np.empty(half, dtype), np.empty(half, dtype)
        self.m = np.empty((N, Ho, Wo, C), dtype)
        self.col_win = np.zeros(half, np.uint8)
        self.row_win = np.zeros(self.m.shape, np.uint8)
        # where index == p, for windows of more than two (a 0/1 index is its own mask)
        self.col_eq = np.empty(half, bool) if s > 2 else None
        self.row_eq = np.empty(self.m.shape, bool) if s > 2 else None
        self.dt = np.empty((N, Ho, s, Wo, C), dtype)
        self.parts = [np.empty(half, dtype) for _ in range(s)]
        self.dx = np.zeros(shape, dtype)

    def windows(self, x):
        """x (N, H, W, C) -> (N, Ho*s, Wo, s, C), a view of the part the windows cover."""
        N, Ho, Wo, C = self.m.shape
        s = self.s
        return x[:, :Ho * s, :Wo * s].reshape(N, Ho * s, Wo, s, C)


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W) in PyTorch's order (channel, row, column).

    In training the flattened copy (and backward's channels-last one) go into buffers kept
    from one batch to the next, as the conv layers' do: a fresh array of this size each step
    is fresh memory from the system, whose first touch cost more than the copy itself (0.18
    against 0.10 ms a step for conv8k3-pool-conv16k3-pool-64 at batch 128)."""

    def __init__(self):
        self._saved = None
        self._out = self._back = None  # training buffers

    def __repr__(self) -> str:
        return "Flatten()"

    def __getstate__(self):
        return dict(self.__dict__, _saved=None, _out=None, _back=None)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim < 2:
            raise ValueError(f"Flatten expects (N, ...), got shape {x.shape}")
        flat = (x.shape[0], int(np.prod(x.shape[1:])))  # spelt out so N = 0 works too
        if training:
            self._saved = x.shape
        if not training or x.flags.c_contiguous:
            return x.reshape(flat)  # a copy when x is channels-last memory
        self._out = _buffer(self._out, flat, x.dtype)
        np.copyto(self._out.reshape(x.shape), x)
        return self._out

    def backward(self, delta: np.ndarray) -> np.ndarray:
        shape = _kept(self._saved, self)
        self._saved = None
        if len(shape) == 4:
            N, C, H, W = shape
            self._back = _buffer(self._back, (N, H, W, C), delta.dtype)
        return _unflatten(delta, shape, self._back)

    def input_grad(self, delta, x, out=None):
        return _unflatten(delta, np.shape(x))


def _unflatten(delta, shape, out=None):
    """delta (N, C*H*W) -> (N, C, H, W); images as a view of channels-last memory (`out`,
    (N, H, W, C), or a new array), the layout the layers below work in (a small copy here
    saves slow strided passes there)."""
    if len(shape) != 4:
        return delta.reshape(shape)
    N, C, H, W = shape
    if out is None:
        out = np.empty((N, H, W, C), dtype=delta.dtype)
    np.copyto(nchw(out), delta.reshape(shape))
    return nchw(out)
