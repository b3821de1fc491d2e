"""mnist.training.threads.blas_threads: the one way the package limits BLAS threads."""

import numpy as np
import threadpoolctl

from mnist.training.threads import blas_threads


def _blas_threads() -> set:
    return {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}


def test_a_block_limits_and_then_restores():
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        assert _blas_threads() == {2}
        with blas_threads(1):
            assert _blas_threads() == {1}
            a = np.ones((64, 64))
            np.testing.assert_allclose(a @ a, 64.0)  # BLAS still works
        assert _blas_threads() == {2}


def test_a_call_limits_from_then_on():
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):  # (restored after)
        blas_threads(1)
        assert _blas_threads() == {1}
        with blas_threads(1):
            pass
        assert _blas_threads() == {1}  # a block inside keeps the process-wide limit
