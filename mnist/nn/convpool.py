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
written out whole. Winograd's convolution (mnist/nn/winograd.py) computes 2x2 output tiles:
under a 2x2 pool they are the pooling windows, so its tiles are pooled as they come and
backward's split fills its tiles, and neither its scatter to pixels nor its gather back runs.

benchmarks/bench_convpool.py, forward + backward, fused against the separate layers, batch 128
(32), one core: conv8k3-pool-conv16k3-pool-64's first layer (no input gradient) 1.8 ms
against 3.7 (0.39 against 0.78), its second (Winograd) 4.0 against 4.3 (0.93 against 0.97);
the bundled CNN's second layer (Winograd, 16 -> 32, 5x5) 19.2 against 21.1 (4.6 against 5.1).

`run_order` (mnist/nn/model.py) puts a `PooledConv` in a pass where a Conv2D meets a
MaxPool2D, with the ReLU after the pool if there is one (its maxima clipped at once, its
gradient mask applied as backward splits); it owns no parameters (the Conv2D's are filled).
Where they cannot run this way (Winograd's tiles other than the pool's windows, windows that
do not tile the output, one channel with too many junk columns: JUNK_MAX) it runs the
separate layers.
"""

from __future__ import annotations

import numpy as np

from mnist.nn.blas import Gemm
from mnist.nn.conv import Conv2D, _Buffers, check_images
from mnist.nn.im2col import junk_columns, nchw, nhwc
from mnist.nn.layers import Activation, Layer, _kept
from mnist.nn.pool import MaxPool2D, _beats, _split

_PLAIN = "plain"  # a training forward that ran the separate layers one after the other
# A one-channel conv runs fused only if its grid's junk columns (mnist/nn/im2col.py
# PlacesIm2col) add at most this fraction of pixels. benchmarks/bench_convpool.py, 28x28,
# forward + backward at batch 128, fused against the two layers: 3x3 kernels (one junk
# column in 15) 2.0 against 4.0 ms for 8 channels out, 4.0 against 6.4 for 16; 5x5 (two in
# 16) 5.8 against 6.0 for 8, 9.7 against 8.6 for 16 (slower).
JUNK_MAX = 0.1


class PooledConv(Layer):
    """`pool.forward(conv.forward(x))` and its backward, in one pass (module docstring);
    with `relu` (the ReLU that ran after the pool), relu(pool(conv(x)))."""

    def __init__(self, conv: Conv2D, pool: MaxPool2D, relu: Activation | None = None):
        if relu is not None and relu.name != "relu":
            raise ValueError(f"PooledConv takes a ReLU after the pool, not {relu.name!r}")
        self.conv, self.pool, self.relu = conv, pool, relu
        self._ws = None  # training buffers for the last batch shape
        self._saved = None

    def __repr__(self) -> str:
        relu = ", relu" if self.relu is not None else ""
        return f"PooledConv({self.conv!r}, {self.pool!r}{relu})"

    def _layers(self) -> list:
        return [self.conv, self.pool] + ([self.relu] if self.relu is not None else [])

    @property
    def need_dx(self) -> bool:
        return self.conv.need_dx

    def fuses(self, H: int, W: int) -> bool:
        """Whether an H x W input runs fused: windows tiling the conv's output, Winograd's
        tiles (where it runs on Winograd) the windows themselves, and with one channel at
        most JUNK_MAX more pixels for the junk columns."""
        conv, s = self.conv, self.pool.size
        Ho, Wo = conv.output_shape(H, W)
        if Ho % s or Wo % s or conv.winograd_tile(H, W, pooled=True) not in (0, s):
            return False
        junk = junk_columns(conv.kernel, s) if conv.in_channels == 1 else 0
        return junk <= JUNK_MAX * (Wo // s)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        conv = self.conv
        x = check_images(x, "Conv2D", conv.in_channels)
        N, _, H, W = x.shape
        if not self.fuses(H, W):
            if training:
                self._saved = _PLAIN
            for layer in self._layers():
                x = layer.forward(x, training)
            return x
        if training:
            if self._ws is None or self._ws.key != (N, H, W) or not self._ws.bound(conv):
                self._ws = _PooledBuffers(self, N, H, W, keep=True)
            ws = self._saved = self._ws
        else:
            ws = _PooledBuffers(self, N, H, W, keep=False)
        if ws.kind == "winograd":
            ws.conv.forward(nhwc(x), conv.Wb, ws.pool_chunk)
        elif ws.kind == "stream":
            ws.conv.load(nhwc(x))
            ws.conv.patches(0, N)  # one chunk
            ws.stream_forward()
        else:
            conv.convolve(nhwc(x), ws.conv, ws.pool_chunk)
        return nchw(ws.m)

    def backward(self, delta: np.ndarray) -> np.ndarray | None:
        ws, self._saved = _kept(self._saved, self), None
        if ws is _PLAIN:
            for layer in reversed(self._layers()):
                delta = layer.backward(delta)
            return delta
        conv = self.conv
        if ws.kind != "stream":  # split_chunk splits it (and masks it for the ReLU)
            ws.d = np.ascontiguousarray(nhwc(delta))  # (N, Ho/s, Wo/s, O)
        if ws.kind == "winograd":  # the bias's gradient: d's rows, once split_chunk masked them
            dx = ws.conv.backward(ws.d, conv.Wb, conv.dWb, conv.need_dx, ws.split_chunk)
            return None if dx is None else nchw(dx)
        if ws.kind == "chunks":
            return conv.backprop(ws.conv, ws.dy_buffer(), ws.split_chunk)
        dy = ws.dy_buffer() if conv.need_dx else None
        ws.stream_backward(nhwc(delta), dy)
        if dy is None:
            return None
        if len(dy):
            conv._dx_chunk(ws.conv, 0, dy)  # one chunk
        return nchw(ws.conv.dx_buffer())

    def input_grad(self, delta, x, out=None):
        y = self.conv.forward(x)
        if self.relu is not None:  # its output: the pool's (a fresh array), clipped in place
            delta = self.relu.input_grad(delta, None, self.relu.forward(self.pool.forward(y)))
        return self.conv.input_grad(self.pool.input_grad(delta, y), x, y)


def _fold_max(m: np.ndarray, v: np.ndarray, p: int, win: np.ndarray | None) -> None:
    """Place p of the pooling windows, values v, into the maxima so far m (p = 0: m = v),
    places in row-major order; `win`, if given, records where p wins (strictly: a tie stays
    with the earlier place, as in MaxPool2D)."""
    if p == 0:
        np.copyto(m, v)
        return
    if win is not None:
        _beats(v, m, p, win)
    np.maximum(m, v, out=m)


# One channel: the products and the pooling run a block of images and one place at a time,
# about this many bytes of outputs, so each product's outputs are pooled (and each gradient
# block multiplied into dW) while in cache; no output array the size of the batch's is made.
STREAM_BYTES = 256 << 10


class _PooledBuffers:
    """The arrays of one fused pass: the convolution's (`conv`, its pixels grouped by place
    in the pooling window), the maxima `m` (N, Ho/s, Wo/s, O) and, with keep, each maximum's
    place `win`.

    Several channels: the convolution's outputs y (Conv2D's chunks) are pooled chunk by
    chunk (`pool_chunk`) and backward splits dL/dm into `dy` (`split_chunk`).

    One channel (tap-major patches of the whole batch in cols) streams (`stream_forward`,
    `stream_backward`): blocks of images x places of STREAM_BYTES, each product written
    channel-major, (O, pixels) (with O = 8 outputs a pixel BLAS runs the (pixels, O)
    products 1.8 times slower, its kernels wanting the long side; with 16 the two are even:
    benchmarks/bench_convpool.py's last lines), and the maxima and winners
    kept channel-major too, `mc` and `win` (O, N, Ho/s, grid width), junk columns included
    (mnist/nn/im2col.py PlacesIm2col); `m` is their transpose without the junk. dL/dm goes
    into `dc` alike, whose junk stays zero, so the junk pixels' gradient is zero.
    """

    def __init__(self, layer: PooledConv, N: int, H: int, W: int, keep: bool):
        conv, s = layer.conv, layer.pool.size
        Ho, Wo = conv.output_shape(H, W)
        O, dt = conv.out_channels, conv.Wb.dtype
        self.key, self.s, self.keep = (N, H, W), s, keep
        self.relu = layer.relu is not None  # the maxima go through a ReLU
        self.m = np.empty((N, Ho // s, Wo // s, O), dt)
        self.dy = None  # dL/dy by pixel, made by the first backward needing it
        self.d = None  # dL/dm of the batch being backpropagated
        if conv.winograd_tile(H, W, pooled=True):
            self.kind = "winograd"  # its output tiles are the pooling places
            self.conv = conv._buffers(N, H, W, keep, pooled=True)
        elif conv.in_channels == 1:
            self.kind = "stream"
            self.conv = cw = _Buffers(conv, N, H, W, s=s, outputs=False)
            self._streams(conv, N, (Ho // s, cw.grid_w), keep)
        else:
            self.kind = "chunks"
            self.conv = _Buffers(conv, N, H, W, s=s)
        if keep and self.kind != "stream":
            self.win = np.zeros(self.m.shape, np.uint8)
            self.eq = np.empty(self.m.shape, bool)  # where win == p

    def dy_buffer(self) -> np.ndarray:
        if self.dy is None:
            self.dy = np.empty((len(self.m) * self.conv.pix, self.m.shape[3]), self.m.dtype)
        return self.dy

    def bound(self, conv: Conv2D) -> bool:
        """Whether the products bound here still point at the conv's parameters."""
        return self.kind != "stream" or (self.Wb is conv.Wb and self.dWb is conv.dWb)

    # ------------------------------------------------------------------- several channels
    def pool_chunk(self, c0: int, n: int, y: np.ndarray) -> None:
        """The maxima of images c0..c0+n from their convolution y (by place)."""
        places = y.reshape(self.s * self.s, -1, y.shape[-1])
        m = self.m[c0:c0 + n].reshape(places.shape[1:])
        win = self.win[c0:c0 + n].reshape(m.shape) if self.keep else None
        for p, place in enumerate(places):
            _fold_max(m, place, p, win)
        if self.relu:
            np.maximum(m, 0, out=m)

    def split_chunk(self, c0: int, n: int, rows: np.ndarray) -> None:
        """rows (dy of images c0..c0+n, by place) = each maximum's gradient at its winner."""
        places = rows.reshape(self.s * self.s, -1, rows.shape[-1])
        shape = places.shape[1:]
        d = self.d[c0:c0 + n].reshape(shape)
        if self.relu:  # the ReLU's gradient: none where its output is 0
            np.multiply(d, self.m[c0:c0 + n].reshape(shape) > 0, out=d)
        _split(d, self.win[c0:c0 + n].reshape(shape), list(places),
               self.eq[c0:c0 + n].reshape(shape))

    # ------------------------------------------------------------------------ one channel
    def _streams(self, conv: Conv2D, N: int, grid: tuple[int, int], keep: bool) -> None:
        """Buffers and products of the blocks of images x places: `streams` = [(first
        image, images, [(place, forward product, dW product)])]."""
        O, dt = conv.out_channels, conv.Wb.dtype
        self.block = block = grid[0] * grid[1]  # one image's pixels in one place
        per = max(1, STREAM_BYTES // (block * O * dt.itemsize))
        self.tmp = np.empty((O, min(per, N) * block), dt)
        self.mc = np.empty((O, N, *grid), dt)
        if keep:
            self.win = np.zeros(self.mc.shape, np.uint8)
            self.eq = np.empty(self.mc.shape, bool)
            self.dc = np.zeros(self.mc.shape, dt)  # dL/dm; the junk columns stay zero
        self.Wb, self.dWb = conv.Wb, conv.dWb  # bound into the products
        cols = self.conv.cols  # (k*k + 1, N*pix): place p's images from p*N*block on
        self.streams = []
        for c0 in range(0, N, per):
            n = min(per, N - c0)
            out = self.tmp[:, :n * block]
            steps = []
            for p in range(self.s * self.s):
                A = cols[:, (p * N + c0) * block:(p * N + c0 + n) * block]
                steps.append((p, Gemm(conv.Wb.T, A, out), Gemm(A, out.T, conv.dWb)))
            self.streams.append((c0, n, steps))

    def _block(self, a: np.ndarray, c0: int, n: int) -> np.ndarray:
        """Images c0..c0+n of a channel-major (O, N, rows, columns) array, (O, pixels)."""
        return a.reshape(len(a), -1)[:, c0 * self.block:(c0 + n) * self.block]

    def stream_forward(self) -> None:
        """The maxima (and winners) of the whole batch, block by block from the patches."""
        for c0, n, steps in self.streams:
            m = self._block(self.mc, c0, n)
            win = self._block(self.win, c0, n) if self.keep else None
            out = self.tmp[:, :m.shape[1]]
            for p, product, _ in steps:
                product(1.0, 0.0)
                _fold_max(m, out, p, win)
        cut = self.m.shape[2]
        np.copyto(self.m, self.mc[:, :, :, :cut].transpose(1, 2, 3, 0))
        if self.relu:
            np.maximum(self.m, 0, out=self.m)

    def stream_backward(self, d: np.ndarray, dy: np.ndarray | None) -> None:
        """dW, db from d = dL/dm (N, Ho/s, Wo/s, O), block by block: each place's share of
        d (d where that place won) into tmp, then into dW (and, given dy, into its rows)."""
        np.copyto(self.dc[..., :d.shape[2]], d.transpose(3, 0, 1, 2))
        if self.relu:  # the ReLU's gradient: none where its output is 0 (whole arrays: a
            # float-by-bool product over strided views runs 5x slower)
            np.multiply(self.dc, np.greater(self.mc, 0, out=self.eq), out=self.dc)
        first = True
        block, N = self.block, self.mc.shape[1]
        for c0, n, steps in self.streams:
            dc = self._block(self.dc, c0, n)
            win, eq = self._block(self.win, c0, n), self._block(self.eq, c0, n)
            out = self.tmp[:, :dc.shape[1]]
            for p, _, dW_product in steps:
                np.multiply(dc, np.equal(win, p, out=eq), out=out)
                dW_product(1.0, 0.0 if first else 1.0)
                first = False
                if dy is not None:
                    np.copyto(dy[(p * N + c0) * block:(p * N + c0 + n) * block], out.T)
        if first:  # an empty batch
            self.dWb[...] = 0
