"""The convolution layer, Conv2D (stride 1), in PyTorch's tensor layout.

At the interface a batch of images is `(N, C, H, W)` and the weights are `W (out, in, k, k)`,
`b (out,)`, as in `torch.nn.Conv2d`, so the layer can be checked against PyTorch with the
same numbers (its pooling and flattening neighbours are in mnist/nn/pool.py). It is a
`Layer` (mnist/nn/layers.py) like `Dense`: `forward(x, training)`, `backward(delta)`
returning dL/d(input) and leaving `dW`, `db` on the layer, `params()` yielding `(param,
grad)` pairs, `input_grad(delta, x, out)` for saliency.

Inside, images are stored channels-last, `(N, H, W, C)` (PyTorch's channels_last memory
format), and what a layer returns is an `(N, C, H, W)` view of that memory. Why: a k x k
window is then k runs of k*C adjacent numbers, so im2col is one strided copy and the
convolution is ONE matrix product `[patches, 1] @ [W; b]` whose output rows are already
NHWC pixels, bias included, with no transpose anywhere (mnist/nn/im2col.py). A batch runs
in chunks of images small enough for their patches to stay in cache, and dL/dx reads
delta's windows in place (`InputGrad`) rather than scattering a patches gradient back.

In training a layer keeps the buffers of its last batch shape and the arrays it returns are
reused by its next training call (like `mnist.data.batches`). Inference (`training=False`)
allocates per call and writes nothing to the layer, so one model can serve several threads.
"""

from __future__ import annotations

import numpy as np

from mnist.errors import ConfigError
from mnist.nn.blas import Gemm
from mnist.nn.im2col import InputGrad, PlacesIm2col, even_chunks, im2col, junk_columns, nchw, \
    nhwc
from mnist.nn.layers import INITS, Layer, _kept, _view
from mnist.nn.winograd import Winograd

PADDINGS = ("same", "valid")
# Winograd's algorithm (mnist/nn/winograd.py), by kernel size: (output tile, fewest input
# channels) where a layer's forward + backward measured faster than on im2col, one core
# (benchmarks/bench_winograd.py, batch 32 / 128, 14x14): 16 -> 32 channels, 5x5 5.9 / 21.2
# ms against 8.8 / 29.9, 3x3 3.2 / 10.7 against 4.0 / 13.8; 8 -> 16 channels, 5x5 2.7 /
# 10.2 against 3.1 / 11.0, 3x3 1.1 / 5.4 against 1.2 / 5.2 (a wash): with few channels the
# transforms cost what the products save. Nor where the tiles overhang the output by more
# than WINOGRAD_OVERHANG (32 -> 64 channels, 3x3 on 7x7: 4x4 tiles of 2 cover 8x8, 31% more
# work; 2.5 / 11.5 ms against 2.5 / 10.9).
WINOGRAD = {3: (2, 16), 5: (2, 8)}
WINOGRAD_OVERHANG = 1.1
# The same where a 2x2 max pool follows and runs with it (mnist/nn/convpool.py): Winograd's
# 2x2 output tiles are then the pooling windows, and its scatter to pixels and gather back
# go, so it pays from 8 channels (benchmarks/bench_convpool.py, 8 -> 16 channels, 3x3 on
# 14x14, forward + backward: 4.0 ms at batch 128 against 4.2 fused on im2col, 0.93 against
# 0.92 at batch 32; in conv8k3-pool-conv16k3-pool-64's whole step at batch 128, 8.3 against
# 8.8 ms).
WINOGRAD_POOLED = {3: (2, 8), 5: (2, 8)}


def check_count(name: str, value, low: int = 1) -> int:
    """`value` as an int >= low, or a ConfigError naming the argument."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_images(x, who: str, channels: int | None = None) -> np.ndarray:
    """x as an (N, C, H, W) array (with `channels` channels), else a ValueError saying so."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{who} expects images (N, C, H, W), got shape {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{who} expects {channels} input channels, got shape {x.shape}")
    return x


class Conv2D(Layer):
    """y = x * W + b: a k x k convolution (cross-correlation, as in PyTorch), stride 1.

    `padding="same"` keeps H x W (the k - 1 zeros split as PyTorch does: for an even k the
    extra one after the image); `"valid"` gives (H - k + 1) x (W - k + 1). A convolution is
    a Dense layer applied to every k x k x C patch, so the weights come from `INITS` with
    fan-in k*k*C and fan-out `out_channels`.

    Storage is Dense's: `Wb = [W; b]`, (k*k*C + 1, out) with rows in (i, j, c) order, and
    `dWb` alike; `W` (out, in, k, k), `b`, `dW`, `db` are fixed views of them (assigning
    copies in). With a column of ones in `cols`, one product gives the output and the bias,
    and one product gives dW and db.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int,
                 padding: str = "same", init: str = "he", rng=None, dtype=np.float32):
        C = self.in_channels = check_count("in_channels", in_channels)
        O = self.out_channels = check_count("out_channels", out_channels)
        k = self.kernel = check_count("kernel", kernel)
        if padding not in PADDINGS:
            raise ConfigError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
        if init not in INITS:
            raise ConfigError(f"unknown init {init!r} (known: {', '.join(INITS)})")
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ConfigError(f"dtype must be float32 or float64, got {dtype!r}")
        self.padding = padding
        self.pad = ((k - 1) // 2, k - 1 - (k - 1) // 2) if padding == "same" else (0, 0)
        W, b = INITS[init](k * k * C, O, np.random.default_rng(rng))  # rows in (c, i, j) order
        self.Wb = np.empty((k * k * C + 1, O), dtype=dtype)  # [W as rows (i, j, c); b]
        self.dWb = np.zeros_like(self.Wb)
        self._views()
        self.W = W.T.reshape(O, C, k, k)
        self.b = b
        self._ws = None  # training buffers for the last batch shape
        self._saved = None  # those buffers once a training forward filled them
        self.pooled = None  # the PooledConv running it with the pool after it (run_order)

    def _views(self):
        k, C, O = self.kernel, self.in_channels, self.out_channels
        # (out, in, k, k) over rows in (i, j, c) order: a transposed view, never a copy
        self._W = self.Wb[:-1].reshape(k, k, C, O).transpose(3, 2, 0, 1)
        self._dW = self.dWb[:-1].reshape(k, k, C, O).transpose(3, 2, 0, 1)
        self._b, self._db = self.Wb[-1], self.dWb[-1]

    W = _view("_W")
    b = _view("_b")
    dW = _view("_dW")
    db = _view("_db")

    def __getstate__(self):  # copies keep Wb; views and buffers are rebuilt on the copy
        state = self.__dict__.copy()
        for key in ("_W", "_b", "_dW", "_db"):
            del state[key]
        state["_ws"] = state["_saved"] = state["pooled"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._views()

    def __repr__(self) -> str:
        return (f"Conv2D({self.in_channels}, {self.out_channels}, {self.kernel}, "
                f"padding={self.padding!r})")

    def params(self):
        yield self.W, self.dW
        yield self.b, self.db

    def output_shape(self, H: int, W: int) -> tuple[int, int]:
        k, (lo, hi) = self.kernel, self.pad
        return H + lo + hi - k + 1, W + lo + hi - k + 1

    # ------------------------------------------------------------------------------- passes
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = nhwc(check_images(x, "Conv2D", self.in_channels))  # (N, H, W, C)
        N, H, W, _ = x.shape
        Ho, Wo = self.output_shape(H, W)
        if Ho < 1 or Wo < 1:
            raise ValueError(f"Conv2D: a {H}x{W} image is smaller than the {self.kernel}x"
                             f"{self.kernel} kernel with padding={self.padding!r}")
        if training:
            if self._ws is None or self._ws.key != (N, H, W):
                self._ws = self._buffers(N, H, W, keep=True)
            ws = self._saved = self._ws
        else:
            ws = self._buffers(N, H, W, keep=False)
        if isinstance(ws, Winograd):
            return nchw(ws.forward(x, self.Wb))
        self.convolve(x, ws)
        return nchw(ws.y.reshape(N, Ho, Wo, self.out_channels))  # (N, O, Ho, Wo) view

    def _buffers(self, N: int, H: int, W: int, keep: bool, pooled: bool = False):
        """The pass's arrays: Winograd's where it is faster (WINOGRAD, or WINOGRAD_POOLED
        for a PooledConv's pass), else im2col's."""
        m = self.winograd_tile(H, W, pooled)
        if m:
            Ho, Wo = self.output_shape(H, W)
            return Winograd(m, self.kernel, self.in_channels, self.out_channels, N, H, W,
                            self.pad[0], Ho, Wo, self.Wb.dtype, keep=keep)
        return _Buffers(self, N, H, W)

    def winograd_tile(self, H: int, W: int, pooled: bool = False) -> int:
        """The output tile Winograd's algorithm runs on an H x W input with, or 0 for im2col
        (`pooled`: where a pool runs fused with it, WINOGRAD_POOLED)."""
        m, fewest = (WINOGRAD_POOLED if pooled else WINOGRAD).get(self.kernel, (0, 0))
        Ho, Wo = self.output_shape(H, W)
        covered = m and -(-Ho // m) * m * -(-Wo // m) * m  # the output the tiles compute
        if m and self.in_channels >= fewest and covered <= WINOGRAD_OVERHANG * Ho * Wo:
            return m
        return 0

    def convolve(self, x: np.ndarray, ws: _Buffers, each_chunk=None) -> None:
        """ws.y (N*ws.pix, O) = the convolution of x (N, H, W, C), in ws's pixel order
        (N*Ho*Wo pixels unless grouped by pooling place); `each_chunk(c0, n, y)` runs after
        each chunk's products, while its outputs y are still in cache."""
        ws.load(x)
        pix = ws.pix
        step = max(1, len(ws.y)) if ws.tap_major else ws.slice_rows()  # SLICE_BYTES
        for c0, n in ws.chunks:  # (n*Ho*Wo, O) = [patches, 1] @ [W; b]
            P, y = ws.patches(c0, n), ws.y[c0 * pix:(c0 + n) * pix]
            for s in range(0, len(y), step):
                np.matmul(P[s:s + step], self.Wb, out=y[s:s + step])
            if each_chunk is not None:
                each_chunk(c0, n, y)

    def backward(self, delta: np.ndarray) -> np.ndarray | None:
        ws, self._saved = _kept(self._saved, self), None
        if isinstance(ws, Winograd):
            dx = ws.backward(nhwc(delta), self.Wb, self.dWb, self.need_dx)
            return None if dx is None else nchw(dx)
        d = nhwc(delta).reshape(-1, self.out_channels)  # (M, O); copies unless NHWC memory
        return self.backprop(ws, d)

    def backprop(self, ws: _Buffers, d: np.ndarray, each_chunk=None) -> np.ndarray | None:
        """dW, db from d = dL/dy (N*ws.pix, O) in ws's pixel order; returns dL/dx as (N,
        C, H, W) (None without need_dx). `each_chunk(c0, n, d_rows)` runs first for each
        chunk and may write its rows of d."""
        N = ws.shape[0]
        pix = ws.pix
        if N == 0:
            self.dWb[...] = 0
        products = ws.dW_products(d, self.dWb)
        # the last chunk's patches are still in cols from forward: start there
        for t, (c0, n) in enumerate(reversed(ws.chunks)):
            rows = d[c0 * pix:(c0 + n) * pix]
            if each_chunk is not None:
                each_chunk(c0, n, rows)
            products[c0](1.0 if t else 0.0)  # [dW; db] += [patches, 1]^T delta
            if self.need_dx:
                self._dx_chunk(ws, c0, rows)
        if not self.need_dx:
            return None
        return nchw(ws.dx_buffer())

    def input_grad(self, delta, x=None, out=None):
        k, (lo, hi) = self.kernel, self.pad  # the input size that gives delta's size
        H, W = (dim - lo - hi + k - 1 for dim in delta.shape[2:])
        ws = _Buffers(self, delta.shape[0], H, W, forward=False)
        d = nhwc(delta).reshape(-1, self.out_channels)
        pix = int(np.prod(delta.shape[2:]))
        for c0, n in ws.chunks:
            self._dx_chunk(ws, c0, d[c0 * pix:(c0 + n) * pix])
        return nchw(ws.dx_buffer())

    def _dx_chunk(self, ws, c0, d):
        """dL/dx of images c0.. into ws's dx, from their d = dL/dy (n*ws.pix, O)."""
        N, H, W, Ho, Wo = ws.shape
        if ws.to_input is None:
            ws.to_input = InputGrad(self.Wb, self.kernel, self.in_channels, ws.per, H, W,
                                    self.pad[0], Ho, Wo)
        n = len(d) // ws.pix
        ws.dx_buffer()[c0:c0 + n] = ws.to_input(ws.pixels(d, n))


# Images per chunk of a pass: their patches (k*k copies of the input) stay under this many
# bytes, so im2col's writes are still in cache when the products read them (for 16 -> 32
# channels, 5x5, a whole batch's patches made the pass 1.2x slower at batch 32, 1.6x at 128).
CHUNK_BYTES = 2 << 20
# Products over short patch rows (at most SLICE_MAX_K numbers) run fastest in slices of
# about SLICE_BYTES of patches and at least MIN_SLICE_ROWS pixels: the dW product (a long
# reduction into a tiny result) 1.3-2x faster for 3x3 and 5x5 kernels on 1 or 8 channels,
# the forward product (pixel-major patches) 1.2x for 8 channels. Long rows (16 channels,
# 5x5: 401 numbers) gain nothing and stay whole.
SLICE_BYTES = 128 << 10
MIN_SLICE_ROWS = 512
SLICE_MAX_K = 128


class _Buffers:
    """The arrays one Conv2D pass over an (N, C, H, W) batch writes, allocated together.

    A pass runs in chunks of `per` images (`chunks`: (first image, count)) sharing one
    `cols`; backward recomputes each chunk's patches from the padded input `xp` (the
    last chunk's are still there). `patches()` is `cols` as the (n*H'*W', k*k*C + 1)
    matrix [patches, 1] whichever way it is laid out (tap-major for one channel,
    mnist/nn/im2col.py).
    """

    def __init__(self, conv: Conv2D, N: int, H: int, W: int, forward: bool = True,
                 s: int = 1, outputs: bool = True):
        k, C, O = conv.kernel, conv.in_channels, conv.out_channels
        lo, hi = conv.pad
        Ho, Wo = conv.output_shape(H, W)
        dt = conv.Wb.dtype
        self.key = (N, H, W)
        self.shape = (N, H, W, Ho, Wo)
        self.lo = lo
        self.k, self.C, self.dtype = k, C, dt
        K = k * k * C
        self.tap_major = C == 1
        # The pixels' order: (n, h, w), or with s > 1 grouped by place in s x s pooling
        # windows, each place a grid of Ho/s rows of `grid_w` pixels, the last `junk` of
        # them junk for tap-major patches (PlacesIm2col), so each image's are contiguous.
        self.s = s
        self.junk = junk_columns(k, s) if self.tap_major and s > 1 else 0
        self.grid_w = Wo // s + self.junk
        self.pix = Ho * Wo if s == 1 else s * s * (Ho // s) * self.grid_w  # rows per image
        # no chunks for one channel, whose k*k numbers per pixel cost as much to copy again
        # in backward as the cache saves (a PooledConv cuts its products into blocks of
        # its own, mnist/nn/convpool.py)
        image_bytes = 0 if self.tap_major else self.pix * (K + 1) * dt.itemsize
        self.per, self.chunks = even_chunks(N, image_bytes, CHUNK_BYTES)
        self.to_input = None  # the dL/dx products, made by the first backward needing them
        self.dx = None
        self._dW = (None, None)  # (delta's address and strides, the dW products bound to it)
        if not forward:
            return
        self.xp = np.zeros((N, H + lo + hi, W + lo + hi, C), dtype=dt)
        if self.junk:
            self.places = PlacesIm2col(N, *self.xp.shape[1:3], k, s, dt)
        M = self.per * self.pix
        if self.tap_major:
            self.cols = np.empty((K + 1, M), dtype=dt)
            self.cols[K] = 1
        else:
            self.cols = np.empty((M, K + 1), dtype=dt)
            self.cols[:, K] = 1
        self.y = np.empty((N * self.pix, O), dtype=dt) if outputs else None
        self.kept = None  # which chunk's patches are in cols

    def load(self, x: np.ndarray) -> None:
        """The batch x (N, H, W, C) into the padded input (the zero border stays from
        allocation); cols holds no chunk's patches yet."""
        _, H, W, _, _ = self.shape
        self.xp[:, self.lo:self.lo + H, self.lo:self.lo + W] = x
        self.kept = None

    def patches(self, c0: int, n: int, fill: bool = True) -> np.ndarray:
        """[patches, 1] (n*H'*W', k*k*C + 1) of images c0..c0+n: a view of cols, filled
        (with `fill`) unless it holds them already."""
        M = n * self.pix
        cols = self.cols[:, :M] if self.tap_major else self.cols[:M]
        if fill and self.kept != (c0, n):
            if self.junk:
                self.places(self.xp, cols, c0, n)
            else:
                im2col(self.xp[c0:c0 + n], self.k, cols, self.tap_major, self.s)
            self.kept = (c0, n)
        return cols.T if self.tap_major else cols

    def dW_products(self, d: np.ndarray, dWb: np.ndarray) -> dict:
        """{first image: dWb (+)= [patches, 1]^T d[its rows]} bound to d's memory, which
        is the same array from one batch to the next (the layer above reuses its buffers)."""
        key = (d.__array_interface__["data"][0], d.shape, d.strides)
        if self._dW[0] != key:
            pix = self.pix
            self._dW = key, {c0: _Chunk(self, c0, n, d[c0 * pix:(c0 + n) * pix], dWb)
                             for c0, n in self.chunks}
        return self._dW[1]

    def slice_rows(self) -> int:
        """Pixels per slice of a product over patches (SLICE_BYTES)."""
        K = self.k * self.k * self.C + 1
        if K > SLICE_MAX_K:
            return max(1, self.shape[0] * self.pix)  # whole
        return max(1, MIN_SLICE_ROWS, SLICE_BYTES // (K * self.dtype.itemsize))

    def pixels(self, rows: np.ndarray, n: int) -> np.ndarray:
        """rows (n*pix, ...) of n images as pixels: (n, Ho, Wo, ...), or grouped by place
        (s, s, n, Ho/s, Wo/s, ...), junk cut off (a view)."""
        _, _, _, Ho, Wo = self.shape
        s = self.s
        if s == 1:
            return rows.reshape(n, Ho, Wo, *rows.shape[1:])
        grid = rows.reshape(s, s, n, Ho // s, self.grid_w, *rows.shape[1:])
        return grid[:, :, :, :, :Wo // s]

    def dx_buffer(self) -> np.ndarray:
        """The (N, H, W, C) buffer dL/dx goes into."""
        if self.dx is None:
            N, H, W, _, _ = self.shape
            self.dx = np.empty((N, H, W, self.C), dtype=self.dtype)
        return self.dx


class _Chunk:
    """dWb (+)= [patches, 1]^T d for one chunk: its patches made first if cols lacks them;
    the product in slices of pixels (SLICE_BYTES), accumulated."""

    def __init__(self, ws: _Buffers, c0: int, n: int, d: np.ndarray, dWb: np.ndarray):
        self.ws, self.c0, self.n = ws, c0, n
        A = ws.patches(c0, n, fill=False).T  # (k*k*C + 1, n*H'*W')
        step = ws.slice_rows()
        self.products = [Gemm(A[:, s:s + step], d[s:s + step], dWb)
                         for s in range(0, len(d), step)]

    def __call__(self, beta: float) -> None:
        self.ws.patches(self.c0, self.n)
        for i, product in enumerate(self.products):
            product(1.0, beta if i == 0 else 1.0)
