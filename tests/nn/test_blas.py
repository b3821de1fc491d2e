"""mnist.nn.blas: C = alpha * A @ B + beta * C against NumPy in float64, every layout, and the
NumPy fallback giving the same numbers."""

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


def test_beta_zero_ignores_what_c_held(mode):
    A = np.ones((2, 3), np.float32)
    C = np.full((2, 2), np.nan, np.float32)
    blas.gemm(1.0, A, A.T, 0.0, C)
    np.testing.assert_array_equal(C, np.full((2, 2), 3.0, np.float32))


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
