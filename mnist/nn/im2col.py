"""The data movement of a convolution over channels-last images: im2col and its adjoint.

Images live channels-last, `(N, H, W, C)`; the layers hand PyTorch's `(N, C, H, W)` shape
to each other as a transposed *view* of that memory (`nchw` / `nhwc` below cost nothing).

- im2col copies every k x k window of the (padded) input into one row of `cols`, so the
  convolution is one matrix product. Over NHWC memory a window is k runs of k*C adjacent
  numbers, each moved as one opaque block (`_window_rows`). With one channel those runs are
  too short to copy well, so `cols` is then kept tap-major, `(k*k, M)`: each tap is one
  shifted copy of the image, long contiguous rows on both sides.
- dL/dx skips cols altogether: `InputGrad` reads delta's windows in place, as overlapping
  strided rows of its flat zero-padded grid, one matrix product per kernel row and residue
  of the output row mod k, accumulated by BLAS.

Why bother: NumPy loops in C over the last, contiguous axis of a copy or a ufunc and pays
a few nanoseconds for every outer step; with 8 or 16 channels that per-row cost, not the
arithmetic, is most of the time. The layouts here keep the inner runs long.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from mnist.nn.blas import Gemm


def nhwc(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, H, W, C), a view: contiguous when x came from these layers."""
    return x.transpose(0, 2, 3, 1)


def nchw(y: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N, C, H, W), a view: PyTorch's shape over channels-last memory."""
    return y.transpose(0, 3, 1, 2)


def even_chunks(n: int, image_bytes: int, budget: int) -> tuple[int, list[tuple[int, int]]]:
    """(images per chunk, [(first image, count)]) of a pass over n images in chunks whose
    working set (`image_bytes` each) stays under `budget` bytes, as even as they come."""
    parts = max(1, -(-n * image_bytes // budget))
    per = max(1, -(-n // parts))
    return per, [(c0, min(per, n - c0)) for c0 in range(0, n, per)]


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


def im2col(xp: np.ndarray, k: int, cols: np.ndarray, tap_major: bool, s: int = 1) -> None:
    """Every k x k window of `xp` (N, Hp, Wp, C) into `cols`.

    Pixel-major `cols` is (N*H'*W', k*k*C (+ extra columns left alone)), a row per output
    pixel in (i, j, c) order; tap-major (C == 1) is (k*k (+ extra rows), N*H'*W').
    The pixels come in (n, h, w) order, or with `s` > 1 (s dividing H' and W') grouped by
    their place in an s x s pooling window: (p, q, n, h // s, w // s) for h % s = p,
    w % s = q, so that each of the s*s places is one contiguous block (mnist/nn/convpool.py).
    """
    N, Hp, Wp, C = xp.shape
    Ho, Wo = Hp - k + 1, Wp - k + 1
    Hs, Ws = Ho // s, Wo // s
    places = [(p, q) for p in range(s) for q in range(s)]
    if tap_major:
        taps = cols[:k * k].reshape((k, k, s, s, N, Hs, Ws), copy=False)
        for i in range(k):
            for j in range(k):
                for p, q in places:
                    taps[i, j, p, q] = xp[:, i + p::s, j + q::s, 0][:, :Hs, :Ws]
        return
    rows = _window_rows(xp, k) if xp.dtype == cols.dtype else None
    if rows is None:  # another dtype, or (w, c) not adjacent in memory: number by number
        patches = cols[:, :k * k * C].reshape((s, s, N, Hs, Ws, k, k, C), copy=False)
        window = sliding_window_view(xp, (k, k), axis=(1, 2))  # (N, Ho, Wo, C, k, k)
        for p, q in places:
            np.copyto(patches[p, q], window[:, p::s, q::s].transpose(0, 1, 2, 4, 5, 3))
        return
    for i in range(k):  # kernel row i of every window: one k*C block per output pixel
        block = cols[:, i * k * C:(i + 1) * k * C].view(rows.dtype)[:, 0]  # (M,)
        block = block.reshape(s, s, N, Hs, Ws)
        for p, q in places:
            np.copyto(block[p, q], rows[:, i + p::s, q::s][:, :Hs, :Ws])


def junk_columns(k: int, s: int) -> int:
    """The junk columns PlacesIm2col's grid adds to each row of Ho/s pixels (k x k kernel,
    s x s pooling windows): the furthest a tap reaches into the next plane column."""
    return (k + s - 2) // s


class PlacesIm2col:
    """Tap-major im2col (one channel) with the pixels grouped by place in s x s pooling
    windows: what `im2col(xp, k, cols, True, s)` writes, fast, on a wider grid.

    Grouped naively, each tap of each place reads every s-th input pixel: short strided
    runs. Here the padded input is first split by row and column mod s into `planes`
    (s, s, N, Hq, Wq), Hq = Ho/s + e, Wq = Wo/s + e, e = junk_columns(k, s) (a flat buffer
    with Wq numbers of slack). Tap (i, j) of place (p, q) is then plane ((i+p) % s,
    (j+q) % s) shifted by ((i+p) // s, (j+q) // s), and if each place's output grid is Wq
    pixels wide instead of Wo/s, one run of (Ho/s)*Wq numbers per image: its last e columns
    read past the row's end (junk, to be ignored; their gradient must be zero). `cols` is
    then (k*k (+ extra rows), N*s*s*(Ho/s)*Wq) in (p, q, n, h // s, column) order. The
    k*k*s*s source views are made once (each costs as much to make as to copy).
    """

    def __init__(self, N: int, Hp: int, Wp: int, k: int, s: int, dtype):
        self.k, self.s = k, s
        Hs, Ws = (Hp - k + 1) // s, (Wp - k + 1) // s
        e = junk_columns(k, s)
        Hq, Wq = Hs + e, Ws + e
        self.width = Wq  # each place's grid: Hs rows of Wq pixels, the last e junk
        self.run = Hs * Wq  # one image's pixels in one place
        size = N * Hq * Wq
        self.planes = np.zeros(s * s * size + Wq, dtype)  # the zeros past the input stay
        self.grid = self.planes[:s * s * size].reshape(s, s, N, Hq, Wq)
        it = self.planes.itemsize
        self.sources = []  # (i, j, p, q, the (N, Hs*Wq) view of the planes it reads)
        for i in range(k):
            for j in range(k):
                for p in range(s):
                    for q in range(s):
                        a, b = i + p, j + q
                        start = ((a % s) * s + b % s) * size + (a // s) * Wq + b // s
                        view = as_strided(self.planes[start:], shape=(N, Hs * Wq),
                                          strides=(Hq * Wq * it, it))
                        self.sources.append((i, j, p, q, view))

    def __call__(self, xp: np.ndarray, cols: np.ndarray, c0: int, n: int) -> None:
        """cols (k*k (+ extra rows), n*s*s*(Ho/s)*Wq) = the patches of images c0..c0+n of
        xp (N, Hp, Wp, 1), the padded input of the batch bound."""
        s, k = self.s, self.k
        Hq, Wq = self.grid.shape[3:]
        for a in range(s):
            for b in range(s):
                src = xp[c0:c0 + n, a::s, b::s, 0][:, :Hq, :Wq]
                self.grid[a, b, c0:c0 + n, :src.shape[1], :src.shape[2]] = src
        taps = cols[:k * k].reshape((k, k, s, s, n, self.run), copy=False)
        for i, j, p, q, view in self.sources:
            taps[i, j, p, q] = view[c0:c0 + n]


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
    """dL/dx of a stride-1 convolution: a full correlation of delta with the flipped kernel,
    k*k matrix products of K = k*O, with neither a patches matrix nor a col2im.

    With D = delta zero-padded by P = k - 1 - lo before (lo: the forward's padding before),
    dx[h, w] = sum_{i, j} D[h + i, w + j] @ V_ij, V_ij = W_{k-1-i, k-1-j}^T (O, C). Lay D
    flat, O numbers per pixel, rows S pixels long, images R rows apart. For one kernel row
    i, the pixels D[h + i, w..w + k - 1] are then k*O adjacent numbers: row q = h*S + w of
    a "window matrix" A_i starts (q + i*S)*O numbers in, so A_i is a strided view of D and
    one product A_i @ [V_i0; ...; V_i(k-1)] does a whole kernel row. BLAS wants rows no
    closer than their length (lda >= K), so the rows are split by q mod k: rows r, r + k,
    r + 2k... start exactly k*O numbers apart. k residues x k kernel rows = k*k products,
    accumulated by BLAS (beta = 1), each k times wider than the per-tap O.

    Padding is shared: a window running off a row's right end reads the next row's first
    columns, and one off an image's bottom the next image's first rows, so those only need
    to be zeros (S = max(P + Wo, W + k - 1 - P), R likewise): on 14x14 with k = 5, 16x16
    pixels of work per image instead of 18x18.
    """

    def __init__(self, Wb: np.ndarray, k: int, C: int, n: int, H: int, W: int,
                 lo: int, Ho: int, Wo: int):
        O = Wb.shape[1]
        self.Wb, self.k, self.C, self.O = Wb, k, C, O
        P = self.P = k - 1 - lo
        S = self.S = max(P + Wo, W + k - 1 - P)
        R = self.R = max(P + Ho, H + k - 1 - P)
        self.shape = (n, H, W, Ho, Wo)
        dt = Wb.dtype
        M = self._rows(n)
        self.D = np.zeros((max(n * R * S, k * M + (k - 1) * S + k), O), dt)  # zeros stay
        self.grid = self.D[:n * R * S].reshape(n, R, S, O)
        self.out = np.empty((max(n * R * S, k * M), C), dt)
        self.V = np.empty((k, k * O, C), dt)  # V[i] = [V_i0; ...; V_i(k-1)]
        self.products = [(i, Gemm(_strided(self.D, r + i * S, M, k * O, k * O),
                                  self.V[i], _strided(self.out, r, M, C, k * C)))
                         for i in range(k) for r in range(k)]

    def _rows(self, n: int) -> int:
        """Rows of each residue's product for n images: up to the last real output pixel."""
        _, H, W, _, _ = self.shape
        last = (n - 1) * self.R * self.S + (H - 1) * self.S + W  # output rows needed
        return -(-last // self.k)

    def __call__(self, d: np.ndarray) -> np.ndarray:
        """d (n, Ho, Wo, O), n up to the images bound -> dL/dx (n, H, W, C), a view of a
        reused buffer. Images past n keep stale numbers: no needed row reads them.
        d may also come grouped by place in s x s pooling windows, (s, s, n, Ho/s, Wo/s, O)
        (im2col's order with s)."""
        _, H, W, Ho, Wo = self.shape
        k, P = self.k, self.P
        Wk = self.Wb[:-1].reshape(k, k, self.C, self.O)  # rows (i, j, c) of Wb
        np.copyto(self.V.reshape(k, k, self.O, self.C), Wk[::-1, ::-1].transpose(0, 1, 3, 2))
        if d.ndim == 6:
            s, n = d.shape[0], d.shape[2]
            for p in range(s):
                for q in range(s):
                    copy_runs(self.grid[:n, P + p:P + Ho:s, P + q:P + Wo:s], d[p, q])
        else:
            n = len(d)
            self.grid[:n, P:P + Ho, P:P + Wo] = d
        m = self._rows(n)
        for i, product in self.products:
            product(1.0, 1.0 if i else 0.0, m=m)  # kernel row 0 starts every output row
        return self.out[:n * self.R * self.S].reshape(n, self.R, self.S, self.C)[:, :H, :W]


def _strided(a: np.ndarray, start: int, rows: int, width: int, step: int) -> np.ndarray:
    """rows x width numbers of 2-D contiguous `a`, row t starting at flat row `start` plus
    t*step numbers: a view (rows may overlap), checked to stay inside `a` since BLAS
    reads and writes it blind."""
    s = a.itemsize
    offset = start * a.shape[1]
    if rows < 1 or offset + (rows - 1) * step + width > a.size or not a.flags.c_contiguous:
        raise ValueError(f"a {rows}x{width} window view does not fit in {a.shape}")
    return as_strided(a.reshape(-1)[offset:], shape=(rows, width), strides=(step * s, s))
