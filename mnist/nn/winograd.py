"""Winograd's minimal filtering: a stride-1 convolution with fewer multiplications.

im2col turns a convolution into one matrix product of k*k*C numbers per output pixel and
output channel; that product is as fast as BLAS goes, so PyTorch and we both sit on it. The
only way below it is less arithmetic. Winograd's F(m x m, k x k) computes an m x m tile of
output from an a x a tile of input (a = m + k - 1) with a*a multiplications per pair of
channels instead of m*m*k*k: for 5x5 kernels and 2x2 tiles 36 instead of 100 (2.8x fewer).

For each tile, with Bt, G, At the small transforms of the Cook-Toom construction below,
    V = Bt d Bt^T   (a x a, per input channel)     U = G w G^T  (a x a, per channel pair)
    M = V (.) U summed over input channels          y = At M At^T  (m x m, per output channel)
The sum over channels at each of the a*a positions xi is a matrix product: over all tiles of
a batch, M[xi] (tiles, O) = V[xi] (tiles, C) @ U[xi] (C, O), a*a products in one batched
matmul. Backward is the same algorithm read backwards (y is linear in w and in d):
    dM = At^T dy At        dU[xi] = V[xi]^T @ dM[xi]       dw = G^T dU G
    dV[xi] = dM[xi] @ U[xi]^T      dd = Bt^T dV Bt, added up where tiles overlap.
Every transform is two small matrix products over one axis at a time, so each is a pair of
BLAS calls over a whole chunk of tiles; images go in chunks whose transforms stay in cache.

The transforms scale the error of float32 rounding by the size of their entries (at most 5
here, with the points 0, +-1, +-2 and infinity): on the bundled CNN's second layer outputs
and dL/dx agree with float64 to about 2e-6 relative and dW (a sum over every tile) to about
1e-5; a training step's gradients to a median 1.5-2e-6, twice im2col's
(benchmarks/bench_train_accuracy.py). In float64 it is exact to 1e-14. A Conv2D uses this
where it measured faster (`WINOGRAD` in mnist/nn/conv.py).
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import as_strided

from mnist.nn.im2col import even_chunks

# The interpolation points of each input-tile size a (plus the point at infinity): small
# integers keep the transforms' entries small, so float32 loses little.
POINTS = {4: (0, 1, -1), 6: (0, 1, -1, 2, -2)}
# Images per chunk: their transformed tiles (a*a numbers per tile and channel) stay under
# this many bytes (measured for 5x5, 16 -> 32 channels: 8 images of 14x14 per chunk ran
# the forward in 2.5 ms at batch 32 against 3.3 ms for 4 and 3.7 ms for all 32).
CHUNK_BYTES = 2 << 20


@lru_cache(maxsize=None)
def transforms(m: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(At (m, a), G (a, k), Bt (a, a)) of F(m, k) in float64, checked exact; computed once
    (read-only arrays, as every layer shares them).

    At and G follow the Cook-Toom construction (Lavin & Gray 2016, "Fast algorithms for
    convolutional neural networks"): At[i, j] = p_j^i, G[j, c] = p_j^c / prod_l (p_j - p_l),
    and a last column / row for the point at infinity. Bt is then the one matrix for which
    At ((G g) * (Bt d)) is the correlation of d with g for every d and g: a linear system,
    solved and checked to round-off.
    """
    a = m + k - 1
    if a not in POINTS:
        raise ValueError(f"no Winograd points for F({m}, {k}) (input tiles of {a})")
    p = [Fraction(v) for v in POINTS[a]]
    At = np.array([[float(pj ** i) for pj in p] + [float(i == m - 1)] for i in range(m)])
    G = []
    for j, pj in enumerate(p):
        f = Fraction(1)
        for l, pl in enumerate(p):
            if l != j:
                f *= pj - pl
        G.append([float(pj ** c / f) for c in range(k)])
    G = np.array(G + [[float(c == k - 1) for c in range(k)]])
    # sum_j At[i, j] G[j, c] Bt[j, t] = [t == i + c] for every output i, tap c, input t
    eqs = np.zeros((m, k, a, a, a))
    for i in range(m):
        for c in range(k):
            for t in range(a):
                eqs[i, c, t, :, t] = At[i] * G[:, c]
    rhs = np.array([[[float(t == i + c) for t in range(a)] for c in range(k)]
                    for i in range(m)])
    Bt = np.linalg.lstsq(eqs.reshape(-1, a * a), rhs.ravel(), rcond=None)[0].reshape(a, a)
    Bt = np.round(Bt * 12) / 12  # the entries are small rationals; drop lstsq's round-off
    if np.abs(eqs.reshape(-1, a * a) @ Bt.ravel() - rhs.ravel()).max() > 1e-12:
        raise ArithmeticError(f"F({m}, {k}) has no exact input transform")
    for t in (At, G, Bt):
        t.flags.writeable = False
    return At, G, Bt


class Winograd:
    """One Conv2D pass over an (N, H, W, C) batch by F(m x m, k x k), with its buffers.

    `forward(x, Wb)` -> y (N, Ho, Wo, O) with the bias of Wb's last row; `backward(d, Wb,
    dWb, need_dx)` fills dWb from the kept transformed input and returns dL/dx (N, H, W, C)
    (or None). With `keep` (training) the transformed input of every chunk is kept for
    backward, and the arrays returned are reused by the next pass.
    """

    def __init__(self, m: int, k: int, C: int, O: int, N: int, H: int, W: int, lo: int,
                 Ho: int, Wo: int, dtype, keep: bool = True):
        At, G, Bt = transforms(m, k)
        dt = np.dtype(dtype)
        a = self.a = m + k - 1
        self.m, self.k, self.C, self.O = m, k, C, O
        self.At, self.A, self.G, self.Gt = (t.astype(dt) for t in (At, At.T, G, G.T))
        self.Bt, self.B = Bt.astype(dt), Bt.T.astype(dt)
        Ty, Tx = self.Ty, self.Tx = -(-Ho // m), -(-Wo // m)
        # the bias: added at the one position xi = (j, j) that At At^T spreads evenly over
        # the m x m outputs (At's column of ones, the point 1), instead of to every output
        j = int(np.flatnonzero(np.all(At == 1, axis=0))[0])
        self.ones_at = j * a + j
        self.key = (N, H, W)
        self.shape = (N, H, W, Ho, Wo)
        self.lo = lo
        # the padded input, zeros around the image and wherever the last tiles overhang
        self.xp = np.zeros((N, Ty * m + k - 1, Tx * m + k - 1, C), dt)
        image_bytes = a * a * Ty * Tx * max(C, O) * dt.itemsize  # its transformed tiles
        per, self.chunks = even_chunks(N, image_bytes, CHUNK_BYTES)
        self.per = per
        T = per * Ty * Tx
        self.tiles = np.empty((a, a, per, Ty, Tx, C), dt)  # input tiles, then dL/d(tiles)
        self.half = np.empty(a * a * T * max(C, O), dt)  # after one axis's transform
        self.V = [np.empty((a * a, T, C), dt) for _ in (self.chunks if keep else [0])]
        self.M = np.empty((a * a, T, O), dt)  # products, then dL/d(products)
        self.out = np.empty((m, m, per, Ty, Tx, O), dt)  # output tiles; then dL/dy's
        self.y = None  # the output pixels, made by the first forward that writes them
        self.U = np.empty((a * a, C, O), dt)
        self.Ut = np.empty((a * a, O, C), dt)
        self.dU = np.empty((a * a, C, O), dt)
        self.dU_part = np.empty((a * a, C, O), dt)
        self.half_w = np.empty(a * a * C * O, dt)  # the weight transforms' halfway point
        ext = (per, Ty + -(-a // m) - 1, Tx + -(-a // m) - 1, C)
        self.planes = [np.zeros(ext, dt) for _ in range(m * m)]  # one per residue (ir, jr)
        self.dxp = None
        self.dx = None
        self.ones = None
        self._made = None  # (with backward's views?, the chunks' plans)

    # ------------------------------------------------------------------------------ pieces
    def _residues(self):
        """[(ir, jr, rows, cols)]: the tile offsets i = ir + m*i2 (i2 < rows), j likewise,
        grouped by their residues mod m."""
        m, a = self.m, self.a
        return [(ir, jr, len(range(ir, a, m)), len(range(jr, a, m)))
                for ir in range(m) for jr in range(m)]

    def _plan(self, c0: int, n: int) -> dict:
        """The views one chunk's passes copy and add through, made once.

        Tile offset (ir + m*i2, jr + m*j2) of tile (ty, tx) is pixel (ir + m*(ty + i2),
        jr + m*(tx + j2)): pixel (ir, jr) of every m x m block, shifted by (i2, j2) blocks.
        So the padded images are first split by residue into m*m contiguous planes (one
        strided copy each), and the tiles are then windows of those planes, whose runs are
        a whole tile row (Tx*C numbers) long instead of C: gathers and adds run 2-3x faster.
        """
        m, Ty, Tx, C = self.m, self.Ty, self.Tx, self.C
        img, dimg = self.xp[c0:c0 + n], None if self.dxp is None else self.dxp[c0:c0 + n]
        plan = {"split": [], "windows": [], "adds": [], "merge": []}
        for ir, jr, rows, cols in self._residues():
            plane = self.planes[ir * m + jr][:n, :Ty + rows - 1, :Tx + cols - 1]
            pixels = (slice(ir, ir + m * (Ty + rows - 1), m),
                      slice(jr, jr + m * (Tx + cols - 1), m))
            plan["split"].append((plane, img[(slice(None), *pixels)]))
            s = plane.strides
            win = as_strided(plane, shape=(rows, cols, n, Ty, Tx, C),
                             strides=(s[1], s[2], s[0], s[1], s[2], s[3]), writeable=False)
            plan["windows"].append((self.tiles[ir::m, jr::m, :n], win))
            if dimg is not None:
                plan["merge"].append((dimg[(slice(None), *pixels)], plane))
                plan["adds"] += [(plane[:, i2:i2 + Ty, j2:j2 + Tx],
                                  self.tiles[ir + m * i2, jr + m * j2, :n])
                                 for i2 in range(rows) for j2 in range(cols)]
        return plan

    def _plans(self) -> list:
        with_dx = self.dxp is not None  # backward's views once it has its buffer
        if self._made is None or self._made[0] != with_dx:
            self._made = with_dx, [self._plan(c0, n) for c0, n in self.chunks]
        return self._made[1]

    def _two_sided(self, L: np.ndarray, src: np.ndarray, n_in: int, out: np.ndarray,
                   scratch: np.ndarray | None = None) -> np.ndarray:
        """out (r, r, rest) = L src L^T over src's first two axes (n_in, n_in, rest):
        a product over the first axis (into scratch), then a batched one over the second."""
        r = L.shape[0]
        rest = src.size // (n_in * n_in)
        scratch = self.half if scratch is None else scratch
        first = scratch[:r * n_in * rest].reshape(r, n_in * rest)
        np.matmul(L, src.reshape(n_in, n_in * rest), out=first)
        np.matmul(L, first.reshape(r, n_in, rest), out=out.reshape(r, r, rest))
        return out

    def _weights(self, Wb: np.ndarray) -> None:
        """U = G w G^T for every channel pair (and Ut, its transpose per xi, for dL/dx)."""
        k, a = self.k, self.a
        w = Wb[:-1].reshape(k, k, self.C * self.O)  # rows (i, j, c) of Wb
        self._two_sided(self.G, w, k, self.U.reshape(a, a, -1), self.half_w)
        np.copyto(self.Ut, self.U.transpose(0, 2, 1))

    # ------------------------------------------------------------------------------ passes
    def forward(self, x: np.ndarray, Wb: np.ndarray, each_chunk=None) -> np.ndarray:
        """x (N, H, W, C) -> y (N, Ho, Wo, O) = x * w + b, a reused buffer. With
        `each_chunk(c0, n, tiles)`, each chunk's output tiles (m, m, n, Ty, Tx, O) go to it
        instead of into y (tile place (p, q) is every output pixel (m*ty + p, m*tx + q))."""
        N, H, W, Ho, Wo = self.shape
        a, m, lo = self.a, self.m, self.lo
        self.xp[:, lo:lo + H, lo:lo + W] = x
        if each_chunk is None and self.y is None:
            self.y = np.empty((N, Ho, Wo, self.O), self.xp.dtype)
        self._weights(Wb)
        b = Wb[-1]
        for t, ((c0, n), plan) in enumerate(zip(self.chunks, self._plans())):
            T = n * self.Ty * self.Tx
            for dst, src in plan["split"] + plan["windows"]:
                np.copyto(dst, src)
            V = self.V[t % len(self.V)][:, :T]
            self._two_sided(self.Bt, self.tiles[:, :, :n], a, V)
            M = self.M[:, :T]
            np.matmul(V, self.U, out=M)
            np.add(M[self.ones_at], b, out=M[self.ones_at])  # At maps it to every output
            out = self._two_sided(self.At, M, a, self.out[:, :, :n])
            if each_chunk is not None:
                each_chunk(c0, n, out)
                continue
            y = self.y[c0:c0 + n]
            for p in range(m):
                for q in range(m):
                    rows, cols = y[:, p::m, q::m].shape[1:3]
                    np.copyto(y[:, p::m, q::m], out[p, q, :, :rows, :cols])
        return self.y

    def backward(self, d: np.ndarray, Wb: np.ndarray, dWb: np.ndarray, need_dx: bool,
                 each_chunk=None) -> np.ndarray | None:
        """dWb from d = dL/dy (N, Ho, Wo, O) and the kept forward; dL/dx (N, H, W, C).
        With `each_chunk(c0, n, tiles)`, it writes each chunk's dL/dy into its tiles (m, m,
        n, Ty, Tx, O), as forward's, and d is any array whose rows sum to the bias's
        gradient (each output channel's dL/dy summed over the batch's pixels)."""
        N, H, W, Ho, Wo = self.shape
        a, m, k, lo = self.a, self.m, self.k, self.lo
        if len(self.V) != len(self.chunks):
            raise RuntimeError("Winograd.backward needs a forward kept for training")
        dU = self.dU
        if not self.chunks:  # no images
            dU[...] = 0
        if need_dx and self.dxp is None:
            self.dxp = np.zeros_like(self.xp)  # the border it never writes stays zero
            self.dx = np.empty((N, H, W, self.C), self.xp.dtype)
        dy = self.out
        if each_chunk is None:
            dy[...] = 0  # tiles overhanging the output get no gradient
        for t, ((c0, n), plan) in enumerate(zip(self.chunks, self._plans())):
            T = n * self.Ty * self.Tx
            if each_chunk is not None:
                each_chunk(c0, n, dy[:, :, :n])
            else:
                dyc = d[c0:c0 + n]
                for p in range(m):
                    for q in range(m):
                        src = dyc[:, p::m, q::m]
                        np.copyto(dy[p, q, :n, :src.shape[1], :src.shape[2]], src)
            dM = self._two_sided(self.A, dy[:, :, :n], m, self.M[:, :T])
            np.matmul(self.V[t][:, :T].transpose(0, 2, 1), dM, out=dU if t == 0 else self.dU_part)
            if t:
                dU += self.dU_part
            if need_dx:
                dV = self.V[t][:, :T]  # V is spent: its memory takes dL/dV
                np.matmul(dM, self.Ut, out=dV)
                self._two_sided(self.B, dV, a, self.tiles[:, :, :n])
                for plane in self.planes:
                    plane.fill(0)
                for dst, src in plan["adds"]:  # overlapping tiles add up in the planes
                    np.add(dst, src, out=dst)
                for dst, src in plan["merge"]:
                    np.copyto(dst, src)
        dw = dWb[:-1].reshape(k, k, self.C * self.O)
        self._two_sided(self.Gt, dU.reshape(a, a, -1), a, dw, self.half_w)
        d = d.reshape(-1, self.O)
        np.dot(self._ones(len(d)), d, out=dWb[-1])
        if not need_dx:
            return None
        np.copyto(self.dx, self.dxp[:, lo:lo + H, lo:lo + W])
        return self.dx

    def _ones(self, n: int) -> np.ndarray:
        if self.ones is None or len(self.ones) != n:
            self.ones = np.ones(n, self.xp.dtype)
        return self.ones
