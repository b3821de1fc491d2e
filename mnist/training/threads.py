"""How many threads BLAS (NumPy's OpenBLAS) may use: the one switch for the whole package.

Our matrices are small (a minibatch times a layer), so a second BLAS thread mostly spins
waiting for work; next to other threads (a web server, a page redrawing, other users' runs) or
other worker processes it makes training many times slower, not faster. Parallelism comes from
running several trainings at once, never from splitting one small product.

    blas_threads(1)              # from now on, in this process (the app, the CLI, a job)
    with blas_threads(1):        # inside the block only; the previous limits come back after
        ...

A no-op where threadpoolctl is not installed.
"""

from __future__ import annotations


class blas_threads:
    """Limit BLAS to `n` threads, from the call on; as a context manager, until the block ends.

    The limit applies to the whole process (BLAS has no per-thread setting): a block restores
    the limits that held when it was entered."""

    def __init__(self, n: int = 1):
        self.n = n
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - threadpoolctl is a requirement
            self._limits = None
            return
        self._limits = threadpool_limits(limits=n, user_api="blas")

    def __enter__(self) -> blas_threads:
        return self

    def __exit__(self, *exc) -> None:
        if self._limits is not None:
            self._limits.restore_original_limits()
