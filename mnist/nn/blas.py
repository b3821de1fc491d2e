"""The BLAS call NumPy does not expose: GEMM with alpha and beta.

`np.matmul` computes `C = A @ B`. BLAS itself computes `C = alpha * A @ B + beta * C`, and
that form is exactly a plain SGD step fused with its gradient: the weight update

    W -= lr * (x.T @ delta)          # matmul into dW, then two passes over W

is one call, `gemm(-lr, x.T, delta, 1.0, W)`, that never writes the gradient anywhere. For
784-128-64-10 that saves writing and re-reading 100k floats per step (mnist/fast.py).

We call the BLAS library NumPy itself is linked against (found by threadpoolctl among the
loaded libraries, inside NumPy's directory), through ctypes: one library, so one thread pool
(a second OpenBLAS, such as scipy's, spins its own threads against NumPy's). Where that
library cannot be found or is not a CBLAS we know (NumPy built against Accelerate or MKL),
`available()` is False and every function falls back to NumPy with the same result:
callers need not care, only the speed differs.

Only float32/float64 arrays whose rows are contiguous (`strides[-1] == itemsize`) are passed
to BLAS; anything else is refused with a ValueError, never handed over (a wrong stride there
would read or write out of bounds).
"""

from __future__ import annotations

import ctypes
import os

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


class _Lib:
    """The CBLAS entry points of NumPy's own BLAS, or None for each one missing."""

    def __init__(self):
        self.sgemm = self.dgemm = None
        self.path = None
        try:
            path, names = _numpy_blas()
        except Exception:  # no threadpoolctl, an unknown layout: fall back to NumPy
            return
        if path is None:
            return
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            return
        for prefix, suffix, blasint in names:
            try:
                funcs = {k: getattr(lib, f"{prefix}cblas_{k}{suffix}")
                         for k in ("sgemm", "dgemm")}
            except AttributeError:
                continue
            for k, f in funcs.items():
                f.restype = None  # no argtypes: callers pass ready-made ctypes values
                setattr(self, k, f)
            self.blasint = blasint
            self.path = path
            return


def _numpy_blas():
    """(path of the BLAS library NumPy loaded, [(symbol prefix, suffix, int type)]), or
    (None, []) when it is not an OpenBLAS inside NumPy's own directory."""
    from threadpoolctl import threadpool_info

    pkg = os.path.dirname(os.path.abspath(np.__file__))  # .../site-packages/numpy
    own = (pkg + os.sep, pkg + ".libs" + os.sep)  # numpy/.dylibs (macOS), numpy.libs (wheels)
    for info in threadpool_info():
        path = info.get("filepath") or ""
        if info.get("internal_api") != "openblas" or not path.startswith(own):
            continue
        name = os.path.basename(path)
        if "openblas64" in name:  # NumPy's wheels: scipy_cblas_sgemm64_ with 64-bit ints
            return path, [("scipy_", "64_", ctypes.c_int64), ("", "64_", ctypes.c_int64)]
        return path, [("scipy_", "", ctypes.c_int), ("", "", ctypes.c_int)]
    return None, []


_lib: _Lib | None = None


def _get() -> _Lib:
    global _lib
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

    The hot loop of mnist/fast.py makes a few such calls per minibatch, so the checks and the
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
            _gemm_numpy(alpha, self.A[:m, :k], self.B[:k], beta, self.C[:m])
            return
        # four numbers into the prepared arguments, one call
        self._M.value, self._K.value = m, k
        self._alpha.value, self._beta.value = alpha, beta
        self.f(*self._args)


def _gemm_numpy(alpha, A, B, beta, C):
    prod = A @ B
    if beta == 0:
        np.multiply(prod, C.dtype.type(alpha), out=C)
    else:
        C *= C.dtype.type(beta)
        prod *= C.dtype.type(alpha)
        C += prod
