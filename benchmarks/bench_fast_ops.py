"""Why the fast path (mnist/fast.py) counts NumPy calls: two small measurements.

1. The cost of one bound BLAS call (`mnist.nn.blas.Gemm`) against `np.matmul(out=)` on tiny
   matrices, where the call itself is all there is.
2. A small NumPy operation (two ufunc calls on 512 integers, what the loss does per batch)
   warm, in a tight loop, and right after a 512x785 @ 785x128 matrix product, which is where
   it runs in training: a call after a big product pays for caches and predictors the
   product evicted.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_fast_ops.py

One JSON line per case (microseconds, medians).
"""

from __future__ import annotations

import json
import sys
import time
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere
from mnist.nn import blas  # noqa: E402


def call_overhead():
    A = np.ones((4, 3), np.float32)
    B = np.ones((3, 2), np.float32)
    C = np.zeros((4, 2), np.float32)
    bound = blas.Gemm(A, B, C)

    def us(fn):
        return min(timeit.repeat(fn, number=20000, repeat=5)) / 20000 * 1e6

    print(json.dumps({"case": "tiny product (4x3 @ 3x2), one call",
                      "gemm_bound_us": round(us(lambda: bound(1.0, 0.0)), 2),
                      "np_matmul_out_us": round(us(lambda: np.matmul(A, B, out=C)), 2),
                      "blas_reached": blas.available()}))


def cold_small_op(rounds: int = 400):
    rng = np.random.default_rng(0)
    x = rng.random((512, 785), dtype=np.float32)
    W = rng.random((785, 128), dtype=np.float32)
    z = np.empty((512, 128), np.float32)
    y = rng.integers(0, 10, 512)
    at = np.empty(512, np.int64)
    cols = np.arange(512)

    def small():
        np.multiply(y, 512, out=at)
        at.__iadd__(cols)

    times = {"warm": [], "after_product": []}
    for case in times:
        for _ in range(rounds):
            if case == "after_product":
                np.matmul(x, W, out=z)
            t = time.perf_counter()
            small()
            times[case].append(time.perf_counter() - t)
    warm, after = (float(np.median(times[k])) * 1e6 for k in ("warm", "after_product"))
    print(json.dumps({"case": "two ufunc calls on 512 ints", "warm_us": round(warm, 2),
                      "after_product_us": round(after, 2), "ratio": round(after / warm, 1)}))


if __name__ == "__main__":
    call_overhead()
    cold_small_op()
