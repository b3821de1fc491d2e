"""The BLAS call NumPy does not expose: GEMM with alpha and beta.

`np.matmul` computes `C = A @ B`. BLAS itself computes `C = alpha * A @ B + beta * C`, and
that form is exactly a plain SGD step fused with its gradient: the weight update

    W -= lr * (x.T @ delta)          # matmul into dW, then two passes over W

is one call, `gemm(-lr, x.T, delta, 1.0, W)`, that never writes the gradient anywhere. For
784-128-64-10 that saves writing and re-reading 100k floats per step (mnist/nn/fast.py).

We call the BLAS library NumPy itself is linked against (found by threadpoolctl among the
loaded libraries, inside NumPy's directory), through ctypes: one library, so one thread pool
(a second OpenBLAS, such as scipy's, spins its own threads against NumPy's). The width of its
integers (32 or 64 bits: NumPy's wheels use 64) is not guessed: it is measured once, when the
library is first loaded, by a call that is harmless under either width (`_int_width`), and then
one small product per dtype is checked against NumPy. Where the library cannot be found, is not
a CBLAS we can call, or answers wrongly, `available()` is False and every function falls back
to NumPy with the same result: callers need not care, only the speed differs.

Only float32/float64 arrays whose rows are contiguous (`strides[-1] == itemsize`) are passed
to BLAS; anything else is refused with a ValueError, never handed over (a wrong stride there
would read or write out of bounds).
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
# Symbol spellings, tried in order: NumPy's wheels (scipy-openblas), then a plain OpenBLAS.
_SYMBOLS = (("scipy_", "64_"), ("", "64_"), ("scipy_", ""), ("", ""))
# The integer widths a CBLAS may be built with; _int_width tells which one a library reads.
_WIDTHS = (ctypes.c_int64, ctypes.c_int32)


class _Lib:
    """The CBLAS entry points of NumPy's own BLAS, checked, or None for each one unusable."""

    def __init__(self):
        self.sgemm = self.dgemm = None
        self.path = self.blasint = None
        if ctypes.sizeof(ctypes.c_void_p) != 8:
            return  # the width probe needs 64-bit argument slots
        try:
            path = _numpy_blas()
        except Exception:  # no threadpoolctl, an unknown layout: fall back to NumPy
            return
        if path is None:
            return
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            return
        for prefix, suffix in _SYMBOLS:
            try:
                sdot, sgemm, dgemm = (getattr(lib, f"{prefix}cblas_{k}{suffix}")
                                      for k in ("sdot", "sgemm", "dgemm"))
            except AttributeError:
                continue
            blasint = _int_width(sdot)
            if blasint is None:
                return
            _declare(sgemm, ctypes.c_float, blasint)
            _declare(dgemm, ctypes.c_double, blasint)
            if _agrees(sgemm, np.float32, blasint) and _agrees(dgemm, np.float64, blasint):
                self.sgemm, self.dgemm, self.blasint, self.path = sgemm, dgemm, blasint, path
            return


def _int_width(sdot):
    """The integer type (one of _WIDTHS) the library's `cblas_sdot` reads, or None."""
    sdot.restype = ctypes.c_float
    sdot.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p,
                     ctypes.c_int64]
    x = np.array([1, 2, 3], np.float32)
    y = np.array([4, 5, 6], np.float32)
    p, q = x.ctypes.data, y.ctypes.data
    answers = {ctypes.c_int32: 32.0, ctypes.c_int64: 0.0}  # to the poisoned n, by reader
    try:
        if sdot(3, p, 1, q, 1) != 32.0:  # upper word 0: either reader sees n = 3
            return None
        # n = 3 with the upper word all ones: a 32-bit reader sees 3 (x.y = 32), a 64-bit one
        # n < 0 and returns 0 untouched (BLAS's quick return), so no width reads out of bounds.
        poisoned = sdot(3 - 2**32, p, 1, q, 1)
    except Exception:
        return None
    for width in _WIDTHS:
        if poisoned == answers.get(width):
            return width
    return None


def _declare(f, real, blasint) -> None:
    """argtypes and restype of cblas_?gemm, so a wrong argument is a ctypes error, not a
    reinterpreted one: (order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)."""
    I, P, E = blasint, ctypes.c_void_p, ctypes.c_int  # E: the CBLAS enums are C ints
    f.argtypes = [E, E, E, I, I, I, real, P, I, P, I, real, P, I]
    f.restype = None


def _agrees(f, dtype, blasint) -> bool:
    """One 2x3 @ 3x2 product with alpha and beta, through `f`, equal to NumPy's (small
    integers: exact in either precision)."""
    A = np.arange(1, 7, dtype=dtype).reshape(2, 3)
    B = np.array([[1, 0], [0, 1], [1, 1]], dtype)
    C = np.array([[1, 2], [3, 4]], dtype)
    want = 2 * (A @ B) - C
    try:
        f(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, 2, 2, 3, 2.0, A.ctypes.data, 3, B.ctypes.data, 2,
          -1.0, C.ctypes.data, 2)
    except Exception:
        return False
    return bool(np.array_equal(C, want))


def _numpy_blas():
    """The path of the OpenBLAS library NumPy loaded, or None when there is none inside
    NumPy's own directory."""
    from threadpoolctl import threadpool_info

    pkg = os.path.dirname(os.path.abspath(np.__file__))  # .../site-packages/numpy
    for info in threadpool_info():
        path = info.get("filepath") or ""
        if info.get("internal_api") == "openblas" and _inside_numpy(path, pkg):
            return path
    return None


def _inside_numpy(path: str, pkg: str, pathmod=os.path) -> bool:
    """Is `path` in NumPy's directory `pkg` or beside it in `pkg.libs` (numpy/.dylibs on
    macOS, numpy.libs in the Linux and Windows wheels)? Compared by the platform's rule, so
    on Windows the loader's spelling of the case and slashes need not match NumPy's."""
    norm = pathmod.normcase
    path = norm(path)
    return any(path.startswith(norm(d) + pathmod.sep) for d in (pkg, pkg + ".libs"))


_lib: _Lib | None = None
_lib_lock = threading.Lock()


def _get() -> _Lib:
    global _lib
    if _lib is None:
        with _lib_lock:  # one probe, even when two threads ask first
            if _lib is None:
                _lib = _Lib()
    return _lib


def available() -> bool:
    """True if gemm goes straight to BLAS (else it is computed with NumPy)."""
    lib = _get()
    return lib.sgemm is not None and os.environ.get("MNIST_NO_BLAS") is None


# ---------------------------------------------------------------------------------- checks
def _layout(a: np.ndarray, name: str):
    """(transposed?, leading dimension) describing 2-D `a` to row-major BLAS."""
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    s = a.itemsize
    r, c = a.strides
    if a.shape[1] <= 1:  # a single column: its stride is never used (NumPy may say 0)
        c = s
    if a.shape[0] <= 1:  # a single row: likewise
        r = s * max(a.shape[1], 1)
    if c == s and r % s == 0 and r // s >= max(a.shape[1], 1):
        return False, r // s  # rows contiguous: as is
    if r == s and c % s == 0 and c // s >= max(a.shape[0], 1):
        return True, c // s  # the transpose of a row-contiguous array
    raise ValueError(f"{name} is neither row- nor column-contiguous (strides {a.strides})")


def _dtype(*arrays) -> np.dtype:
    dt = arrays[0].dtype
    if dt not in (np.float32, np.float64) or any(a.dtype != dt for a in arrays):
        raise ValueError("gemm needs float32 or float64 arrays of one dtype, got "
                         + ", ".join(str(a.dtype) for a in arrays))
    return dt


# ---------------------------------------------------------------------------------- calls
def gemm(alpha: float, A: np.ndarray, B: np.ndarray, beta: float, C: np.ndarray) -> None:
    """C = alpha * A @ B + beta * C, in place. A, B, C 2-D, one float dtype; C row-major.

    A and B may be transposed views (`x.T`): they are passed to BLAS as transposed, not
    copied. With beta == 0 the old contents of C are ignored (even NaN), as in BLAS.
    """
    Gemm(A, B, C)(alpha, beta)


class Gemm:
    """`C = alpha * A @ B + beta * C` for arrays bound once, called many times.

    The hot loop of mnist/nn/fast.py makes a few such calls per minibatch, so the checks and the
    ctypes argument conversions (several microseconds) are done here, once; a call then costs
    about a microsecond more than the product itself. Per call, the batch may be smaller
    than the bound arrays (`m=` rows of A and C, or `k=` columns of A and rows of B: the
    leading part of each buffer is used). The bound arrays are kept referenced, so the
    addresses handed to BLAS stay valid.
    """

    def __init__(self, A: np.ndarray, B: np.ndarray, C: np.ndarray):
        self.dtype = _dtype(A, B, C)
        self.m, self.k = A.shape
        k2, self.n = B.shape
        if k2 != self.k or C.shape != (self.m, self.n):
            raise ValueError(f"gemm shapes do not match: {A.shape} @ {B.shape} -> {C.shape}")
        tc, ldc = _layout(C, "C")
        if tc:
            raise ValueError("gemm's C must be row-contiguous")
        self.A, self.B, self.C = A, B, C
        self._buffers, self._plans = {}, {}  # the NumPy fallback's, made on first use
        (ta, lda), (tb, ldb) = _layout(A, "A"), _layout(B, "B")
        lib = _get()
        self.f = (lib.sgemm if self.dtype == np.float32 else lib.dgemm) if available() else None
        if self.f is None:
            return
        I, P = lib.blasint, ctypes.c_void_p
        R = ctypes.c_float if self.dtype == np.float32 else ctypes.c_double
        self._M, self._K = I(self.m), I(self.k)
        self._alpha, self._beta = R(1.0), R(0.0)
        self._args = (
            ctypes.c_int(_ROW_MAJOR), ctypes.c_int(_TRANS if ta else _NO_TRANS),
            ctypes.c_int(_TRANS if tb else _NO_TRANS), self._M, I(self.n), self._K,
            self._alpha, P(A.ctypes.data), I(lda), P(B.ctypes.data), I(ldb), self._beta,
            P(C.ctypes.data), I(ldc))

    def __call__(self, alpha: float, beta: float, m: int | None = None,
                 k: int | None = None) -> None:
        m = self.m if m is None else m
        k = self.k if k is None else k
        if not (0 <= m <= self.m and 0 <= k <= self.k):
            raise ValueError(f"gemm: m={m}, k={k} exceed the bound {self.m}, {self.k}")
        if self.f is None or m == 0 or self.n == 0:
            (self._plans.get((m, k)) or self._plan(m, k))(alpha, beta)
            return
        # four numbers into the prepared arguments, one call
        self._M.value, self._K.value = m, k
        self._alpha.value, self._beta.value = alpha, beta
        self.f(*self._args)

    def _plan(self, m: int, k: int):
        """The same with NumPy for m rows and k inner columns, as a function (alpha, beta):
        into views of buffers made once, so no call makes a temporary.

        alpha multiplies the smallest of A, B and the product (for a weight update, delta: a
        batch of rows, not the whole weight matrix); beta == 0 writes the product straight
        into C; beta == 1 leaves C unscaled. Python floats keep float32 in float32. Memory:
        the scaled factor's copy, and a C-sized product buffer once beta != 0 is asked for.
        """
        A, B, C = self.A[:m, :k], self.B[:k], self.C[:m]
        scales = min(("A", A.size), ("B", B.size), ("product", C.size), key=lambda t: t[1])[0]
        scratch = None
        if scales == "A":
            scratch = self._buffer("A", self.A.shape)[:m, :k]
        elif scales == "B":
            scratch = self._buffer("B", self.B.shape)[:k]
        prod = None
        multiply, matmul = np.multiply, np.matmul

        def run(alpha: float, beta: float) -> None:
            nonlocal prod
            alpha = float(alpha)
            a, b, c = A, B, C
            if beta == 0:
                out = c
            else:
                if prod is None:
                    prod = self._buffer("prod", self.C.shape)[:m]
                out = prod
            if alpha != 1.0 and scales == "A":
                a = multiply(A, alpha, scratch)
            elif alpha != 1.0 and scales == "B":
                b = multiply(B, alpha, scratch)
            matmul(a, b, out)
            if alpha != 1.0 and scales == "product":
                out *= alpha
            if beta != 0:
                if beta != 1:
                    c *= float(beta)
                c += out

        run.scales = scales
        self._plans[(m, k)] = run
        return run

    def _buffer(self, name: str, shape) -> np.ndarray:
        buf = self._buffers.get(name)
        if buf is None:
            buf = self._buffers[name] = np.empty(shape, self.dtype)
        return buf
