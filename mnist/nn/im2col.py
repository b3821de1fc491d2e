"""The data movement of a convolution over channels-last images: im2col and its adjoint.

Images live channels-last, `(N, H, W, C)`; the layers hand PyTorch's `(N, C, H, W)` shape
to each other as a transposed *view* of that memory (`nchw` / `nhwc` below cost nothing).

- im2col copies every k x k window of the (padded) input into one row of `cols`, so the
  convolution is one matrix product. Over NHWC memory a window is k runs of k*C adjacent
  numbers, each moved as one opaque block (`_window_rows`). With one channel those runs are
  too short to copy well, so `cols` is then kept tap-major, `(k*k, M)`: each tap is one
  shifted copy of the image, long contiguous rows on both sides.
- Its adjoint (dL/dx) skips cols altogether: `InputGrad` accumulates one matrix product per
  tap straight into shifted rows of the padded input's gradient.

Why bother: NumPy loops in C over the last, contiguous axis of a copy or a ufunc and pays
a few nanoseconds for every outer step; with 8 or 16 channels that per-row cost, not the
arithmetic, is most of the time. The layouts here keep the inner runs long.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mnist.nn.blas import Gemm


def nhwc(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, H, W, C), a view: contiguous when x came from these layers."""
    return x.transpose(0, 2, 3, 1)


def nchw(y: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N, C, H, W), a view: PyTorch's shape over channels-last memory."""
    return y.transpose(0, 3, 1, 2)


def copy_runs(dst: np.ndarray, src: np.ndarray) -> None:
    """dst[...] = src. When the last axis is contiguous in both, each row of it moves as one
    opaque block (a void dtype): one memcpy per row instead of a loop over its numbers,
    about twice as fast for 8 or 16 channels."""
    n = src.shape[-1] * src.itemsize
    if (src.dtype == dst.dtype and src.shape[-1] > 1 and src.strides[-1] == src.itemsize
            and dst.strides[-1] == dst.itemsize):
        block = np.dtype((np.void, n))
        np.copyto(dst.view(block)[..., 0], src.view(block)[..., 0])
    else:
        np.copyto(dst, src)


def im2col(xp: np.ndarray, k: int, cols: np.ndarray, tap_major: bool) -> None:
    """Every k x k window of `xp` (N, Hp, Wp, C) into `cols`.

    Pixel-major `cols` is (N*H'*W', k*k*C (+ extra columns left alone)), a row per output
    pixel in (i, j, c) order; tap-major (C == 1) is (k*k (+ extra rows), N*H'*W').
    """
    N, Hp, Wp, C = xp.shape
    Ho, Wo = Hp - k + 1, Wp - k + 1
    if tap_major:
        taps = cols[:k * k].reshape((k, k, N, Ho, Wo), copy=False)
        for i in range(k):
            for j in range(k):
                taps[i, j] = xp[:, i:i + Ho, j:j + Wo, 0]
        return
    rows = _window_rows(xp, k) if xp.dtype == cols.dtype else None
    if rows is None:  # another dtype, or (w, c) not adjacent in memory: number by number
        patches = cols[:, :k * k * C].reshape((N, Ho, Wo, k, k, C), copy=False)
        window = sliding_window_view(xp, (k, k), axis=(1, 2))  # (N, Ho, Wo, C, k, k)
        np.copyto(patches, window.transpose(0, 1, 2, 4, 5, 3))
        return
    for i in range(k):  # kernel row i of every window: one k*C block per output pixel
        block = cols[:, i * k * C:(i + 1) * k * C].view(rows.dtype)[:, 0]  # (M,)
        np.copyto(block.reshape(N, Ho, Wo), rows[:, i:i + Ho, :Wo])


class _Interface:
    def __init__(self, interface, base):
        self.__array_interface__ = interface
        self.base = base  # keeps the memory alive


def _window_rows(xp: np.ndarray, k: int) -> np.ndarray | None:
    """xp (N, Hp, Wp, C) seen as (N, Hp, Wp - k + 1) opaque blocks: block (n, h, w) is the
    k*C adjacent numbers xp[n, h, w:w + k], one block starting every C numbers (they
    overlap). Copying such blocks moves a whole window row per memcpy, twice as fast as
    NumPy's loop over 24 floats. None when (w, c) are not adjacent in memory."""
    N, Hp, Wp, C = xp.shape
    s = xp.itemsize
    if xp.strides[3] != s or xp.strides[2] != C * s:
        return None
    typestr = f"|V{k * C * s}"
    face = dict(xp.__array_interface__, shape=(N, Hp, Wp - k + 1), strides=xp.strides[:3],
                typestr=typestr, descr=[("", typestr)])
    return np.asarray(_Interface(face, xp))


class InputGrad:
    """dL/dx of a stride-1 convolution as k*k accumulated matrix products: no col2im.

    Number the padded input's pixels across the whole batch, p = (n*Hp + h)*Wp + w, one
    row of C numbers each. The output pixel on row p reads, through tap (i, j), input row
    p + i*Wp + j; so with delta laid on the same grid (zero where no output pixel is),
    tap (i, j) adds `grid @ W_ij^T` to a block of rows shifted by i*Wp + j. Each tap is ONE
    product into contiguous rows, accumulated by BLAS itself (beta = 1, mnist/nn/blas.py):
    no (M, k*k*C) gradient of the patches is written, and no strided adds run (twice as
    fast as the matmul + col2im it replaces).
    """

    def __init__(self, W_taps, N: int, Hp: int, Wp: int, Ho: int, Wo: int, dtype):
        k2 = len(W_taps)
        C, O = W_taps[0].shape
        k = round(k2 ** 0.5)
        L = N * Hp * Wp
        self.out_hw = Ho, Wo
        self.grid = np.zeros((N, Hp, Wp, O), dtype=dtype)  # delta in [:, :Ho, :Wo]
        self.rows = np.empty((L + (k - 1) * (Wp + 1), C), dtype=dtype)
        self.L = L
        self.dxp = self.rows[:L].reshape(N, Hp, Wp, C)
        grid = self.grid.reshape(L, O)
        self.products = [Gemm(grid, W.T, self.rows[s:s + L])
                         for W, s in zip(W_taps, (i * Wp + j for i in range(k) for j in range(k)))]

    def __call__(self, d: np.ndarray) -> np.ndarray:
        """d (N, Ho, Wo, O) -> dL/d(padded input) (N, Hp, Wp, C), a view of a reused buffer."""
        Ho, Wo = self.out_hw
        self.grid[:, :Ho, :Wo] = d
        self.rows[self.L:] = 0  # rows past the batch: only the shifted taps reach them
        for t, product in enumerate(self.products):
            product(1.0, 1.0 if t else 0.0)  # tap (0, 0) covers rows [0, L): it starts them
        return self.dxp
