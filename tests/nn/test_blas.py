"""mnist.nn.blas: C = alpha * A @ B + beta * C against NumPy in float64, every layout, and the
NumPy fallback giving the same numbers; the integer-width probe, the declared argument types and
the path rule that find and check NumPy's BLAS."""

import ctypes
import glob
import ntpath
import os
import posixpath
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mnist.nn import blas


@pytest.fixture(params=["blas", "numpy"])
def mode(request, monkeypatch):
    if request.param == "numpy":
        monkeypatch.setenv("MNIST_NO_BLAS", "1")
        assert not blas.available()
    return request.param


def reference(alpha, A, B, beta, C):
    return alpha * (A.astype(np.float64) @ B.astype(np.float64)) + beta * C.astype(np.float64)


def operand(rng, shape, transposed, dtype):
    """A (shape) array, as is or as the transpose of a row-major array."""
    if transposed:
        return rng.standard_normal(shape[::-1]).astype(dtype).T
    return rng.standard_normal(shape).astype(dtype)


def test_numpy_uses_an_openblas_we_can_call():
    """NumPy's wheels ship OpenBLAS: then the fast path must really reach it (a silent
    fallback would only show as a slower benchmark)."""
    deps = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    if "openblas" not in deps["name"]:
        pytest.skip(f"NumPy is built against {deps['name']}")
    assert blas.available()
    assert "openblas" in blas._get().path


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_gemm_every_layout(mode, dtype, ta, tb):
    rng = np.random.default_rng(0)
    A = operand(rng, (7, 5), ta, dtype)
    B = operand(rng, (5, 3), tb, dtype)
    C = rng.standard_normal((7, 3)).astype(dtype)
    for alpha, beta in [(1.0, 0.0), (-0.25, 1.0), (2.0, 0.5)]:
        want = reference(alpha, A, B, beta, C)
        blas.gemm(alpha, A, B, beta, C)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(C, want, rtol=tol, atol=tol)


# (m, k, n) where alpha is best applied to A, to B, or to the product (the smallest of the three)
SHAPES = {"A": (2, 3, 9), "B": (9, 3, 2), "product": (3, 9, 2)}


@pytest.mark.parametrize("which", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_gemm_every_shape_of_product(mode, which, dtype, ta, tb):
    """Each way the NumPy fallback can apply alpha, each beta it treats apart, and a bound
    product called with a smaller m and k (its views are made once per size)."""
    m, k, n = SHAPES[which]
    rng = np.random.default_rng(3)
    A = operand(rng, (m, k), ta, dtype)
    B = operand(rng, (k, n), tb, dtype)
    C = rng.standard_normal((m, n)).astype(dtype)
    bound = blas.Gemm(A, B, C)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for alpha, beta, rows, inner in [(1.0, 0.0, m, k), (-0.3, 0.0, m, k), (1.0, 1.0, m, k),
                                     (-0.3, 1.0, m, k), (0.7, -2.0, m, k), (-0.3, 1.0, m - 1, k),
                                     (2.0, 0.5, m, k - 1), (-0.3, 1.0, m, k)]:
        want = C.astype(np.float64)
        want[:rows] = reference(alpha, A[:rows, :inner], B[:inner], beta, C[:rows])
        bound(alpha, beta, m=rows, k=inner)
        np.testing.assert_allclose(C, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("which", SHAPES)
def test_fallback_scales_the_smallest_of_a_b_and_the_product(which, monkeypatch):
    """So the shapes above do reach each branch of the NumPy fallback."""
    monkeypatch.setenv("MNIST_NO_BLAS", "1")
    m, k, n = SHAPES[which]
    bound = blas.Gemm(np.ones((m, k)), np.ones((k, n)), np.zeros((m, n)))
    bound(0.5, 1.0)
    assert bound._plans[(m, k)].scales == which


def test_fallback_keeps_a_product_buffer_only_for_beta_other_than_zero(monkeypatch):
    """beta == 0 writes straight into C: no C-sized buffer is kept for such products."""
    monkeypatch.setenv("MNIST_NO_BLAS", "1")
    A, B, C = np.ones((6, 5)), np.ones((5, 4)), np.zeros((6, 4))
    bound = blas.Gemm(A, B, C)
    bound(2.0, 0.0)
    assert "prod" not in bound._buffers
    bound(2.0, 1.0)
    assert bound._buffers["prod"].shape == C.shape
    np.testing.assert_array_equal(C, np.full((6, 4), 20.0))


@pytest.mark.parametrize("which", SHAPES)
def test_beta_zero_ignores_what_c_held(mode, which):
    A = np.ones((2, 3), np.float32)
    C = np.full((2, 2), np.nan, np.float32)
    blas.gemm(1.0, A, A.T, 0.0, C)
    np.testing.assert_array_equal(C, np.full((2, 2), 3.0, np.float32))
    m, k, n = SHAPES[which]
    C = np.full((m, n), np.nan, np.float32)
    blas.gemm(-0.5, np.ones((m, k), np.float32), np.ones((k, n), np.float32), 0.0, C)
    np.testing.assert_array_equal(C, np.full((m, n), -0.5 * k, np.float32))


def test_float64_scalars_keep_float32_arrays_in_float32(mode):
    """NumPy float64 scalars (an lr computed with NumPy) neither fail nor change C's dtype."""
    A = np.ones((4, 3), np.float32)
    C = np.ones((4, 2), np.float32)
    blas.gemm(np.float64(0.5), A, np.ones((3, 2), np.float32), np.float64(2.0), C)
    assert C.dtype == np.float32
    np.testing.assert_array_equal(C, np.full((4, 2), 3.5, np.float32))


def test_bound_gemm_on_a_smaller_batch(mode):
    """The fast path's use: bound to full-size buffers, called with the batch's b rows."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((16, 12)).astype(np.float32)  # (B, n_in) input buffer
    D = rng.standard_normal((16, 4)).astype(np.float32)  # (B, n_out) deltas
    W = rng.standard_normal((12, 4)).astype(np.float32)
    update = blas.Gemm(X.T, D, W)  # W = alpha * X.T @ D + beta * W, k = batch
    W0 = W.copy()
    update(-0.1, 0.9, k=5)
    np.testing.assert_allclose(W, reference(-0.1, X[:5].T, D[:5], 0.9, W0), rtol=1e-5,
                               atol=1e-6)
    Z = np.zeros((16, 4), np.float32)
    forward = blas.Gemm(X, W, Z)  # Z[:m] = alpha * X[:m] @ W, m = batch
    forward(0.5, 0.0, m=3)
    np.testing.assert_allclose(Z[:3], 0.5 * X[:3].astype(np.float64) @ W, rtol=1e-5,
                               atol=1e-6)
    assert not Z[3:].any()  # rows past the batch untouched


def test_bad_operands_are_refused_before_reaching_blas():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((4, 6)).astype(np.float32)
    C = np.zeros((4, 4), np.float32)
    with pytest.raises(ValueError, match="shapes do not match"):
        blas.gemm(1.0, A, A, 0.0, C)
    with pytest.raises(ValueError, match="one dtype"):
        blas.gemm(1.0, A, A.T.astype(np.float64), 0.0, C)
    with pytest.raises(ValueError, match="float32 or float64"):
        blas.gemm(1.0, A.astype(np.int32), A.T.astype(np.int32), 0.0, C.astype(np.int32))
    with pytest.raises(ValueError, match="row- nor column-contiguous"):
        blas.gemm(1.0, rng.standard_normal((4, 12)).astype(np.float32)[:, ::2], A.T, 0.0, C)
    with pytest.raises(ValueError, match="C must be row-contiguous"):
        blas.gemm(1.0, A, A.T, 0.0, np.zeros((4, 4), np.float32).T)
    bound = blas.Gemm(A, A.T, C)
    with pytest.raises(ValueError, match="exceed"):
        bound(1.0, 0.0, m=5)


# ---------------------------------------------------------------------- finding and checking BLAS
def blas_config() -> str:
    """How NumPy's OpenBLAS was built ("... USE64BITINT ..."), or "" for another BLAS."""
    linked = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return linked.get("openblas configuration", "")


def test_probe_reads_the_width_numpy_was_built_with():
    """The width comes from the probe, and agrees with what NumPy's build says it linked."""
    config = blas_config()
    if not config:
        pytest.skip("NumPy is not built against OpenBLAS")
    want = ctypes.c_int64 if "USE64BITINT" in config else ctypes.c_int32
    assert blas._get().blasint is want


def test_a_wrong_width_is_rejected_and_numpy_takes_over(monkeypatch):
    """Offer the probe only the width this library does not read: it must answer None (the
    probe call is harmless under either reading), leave BLAS unused, and gemm still be right."""
    right = blas._get().blasint
    if right is None:
        pytest.skip("no BLAS found to probe")
    wrong = ctypes.c_int32 if right is ctypes.c_int64 else ctypes.c_int64
    monkeypatch.setattr(blas, "_WIDTHS", (wrong,))
    lib = blas._Lib()
    assert lib.sgemm is None and lib.dgemm is None and lib.blasint is None
    monkeypatch.setattr(blas, "_lib", lib)
    assert not blas.available()
    rng = np.random.default_rng(4)
    A, B = rng.standard_normal((5, 4)), rng.standard_normal((4, 3))
    C = np.ones((5, 3))
    bound = blas.Gemm(A, B, C)
    assert bound.f is None
    bound(2.0, -1.0)
    np.testing.assert_allclose(C, 2.0 * A @ B - 1.0, rtol=1e-12)


def test_a_32_bit_openblas_is_read_as_32_bit():
    """scipy ships an OpenBLAS with 32-bit integers: the same probe reads it as such, refuses
    64 bits, and its gemm then passes the check. In a child process, so its second thread pool
    stays out of this one."""
    import scipy

    libs = glob.glob(os.path.join(os.path.dirname(scipy.__file__) + ".libs", "*openblas*"))
    libs = [p for p in libs if "openblas64" not in os.path.basename(p)]
    if not libs:
        pytest.skip("scipy ships no 32-bit OpenBLAS on this platform")
    code = textwrap.dedent(f"""
        import ctypes
        import numpy as np
        from mnist.nn import blas
        lib = ctypes.CDLL({libs[0]!r})
        sdot, sgemm = lib.scipy_cblas_sdot, lib.scipy_cblas_sgemm
        width = blas._int_width(sdot)
        blas._WIDTHS = (ctypes.c_int64,)
        refused = blas._int_width(sdot)
        blas._declare(sgemm, ctypes.c_float, width)
        print(width.__name__, refused, blas._agrees(sgemm, np.float32, width))
    """)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [ctypes.c_int32.__name__, "None", "True"]


def test_probe_refuses_a_library_that_answers_neither_way():
    class Sdot:  # a "dot product" that returns a constant: no width explains it
        argtypes = restype = None

        def __call__(self, *args):
            return 7.0

    assert blas._int_width(Sdot()) is None


def test_the_product_check_refuses_a_gemm_that_computes_nothing():
    lib = blas._get()
    if lib.sgemm is None:
        pytest.skip("no BLAS found")
    assert blas._agrees(lib.sgemm, np.float32, lib.blasint)
    assert blas._agrees(lib.dgemm, np.float64, lib.blasint)
    assert not blas._agrees(lambda *args: None, np.float32, lib.blasint)


def test_gemm_functions_declare_their_argument_types():
    lib = blas._get()
    if lib.sgemm is None:
        pytest.skip("no BLAS found")
    enum, I, P = ctypes.c_int, lib.blasint, ctypes.c_void_p
    for f, real in [(lib.sgemm, ctypes.c_float), (lib.dgemm, ctypes.c_double)]:
        assert f.argtypes == [enum, enum, enum, I, I, I, real, P, I, P, I, real, P, I]
        assert f.restype is None
    A = np.ones((2, 2), np.float32)
    with pytest.raises(ctypes.ArgumentError):  # a float where M goes: refused before the call
        lib.sgemm(101, 111, 111, 2.5, 2, 2, 1.0, A.ctypes.data, 2, A.ctypes.data, 2, 0.0,
                  A.ctypes.data, 2)


@pytest.mark.parametrize("path, inside", [
    (r"C:\Python311\Lib\site-packages\numpy.libs\libscipy_openblas64_-abc.dll", True),
    (r"c:\python311\lib\SITE-PACKAGES\NumPy.libs\libscipy_openblas64_-abc.dll", True),
    ("C:/Python311/Lib/site-packages/numpy/.libs/openblas.dll", True),
    (r"C:\Python311\Lib\site-packages\scipy.libs\libscipy_openblas-abc.dll", False),
    (r"C:\Python311\Lib\site-packages\numpyish\openblas.dll", False),
])
def test_windows_paths_match_whatever_their_case(path, inside):
    numpy_dir = r"C:\Python311\Lib\site-packages\numpy"
    assert blas._inside_numpy(path, numpy_dir, ntpath) is inside


def test_posix_paths_match_exactly():
    numpy_dir = "/venv/lib/site-packages/numpy"
    assert blas._inside_numpy("/venv/lib/site-packages/numpy.libs/libopenblas.so", numpy_dir,
                              posixpath)
    assert blas._inside_numpy("/venv/lib/site-packages/numpy/.dylibs/libopenblas.dylib",
                              numpy_dir, posixpath)
    assert not blas._inside_numpy("/venv/lib/site-packages/NumPy.libs/libopenblas.so",
                                  numpy_dir, posixpath)
    assert not blas._inside_numpy("/venv/lib/site-packages/scipy.libs/libopenblas.so",
                                  numpy_dir, posixpath)
