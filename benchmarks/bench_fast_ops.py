"""Why the fast path (mnist/nn/fast.py) counts NumPy calls, and what its fallback costs.

1. The cost of one bound BLAS call (`mnist.nn.blas.Gemm`) against `np.matmul(out=)` on tiny
   matrices, where the call itself is all there is.
2. A small NumPy operation (two ufunc calls on 512 integers, what the loss does per batch)
   warm, in a tight loop, and right after a 512x785 @ 785x128 matrix product, which is where
   it runs in training: a call after a big product pays for caches and predictors the
   product evicted.
3. The SGD update of each layer of 784-128-64-10 (batch 128), side by side: the plain
   `W -= lr * (x.T @ delta)`, the same through `Gemm` without BLAS (its NumPy fallback, what
   runs where NumPy's BLAS cannot be called), and through BLAS; with and without weight decay.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_fast_ops.py

One JSON line per case (microseconds, medians).
"""

from __future__ import annotations

import json
import os
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


def fallback_vs_plain(batch: int = 128, rounds: int = 9, lr: float = 0.05, decay: float = 1e-4):
    rng = np.random.default_rng(0)
    step = {}  # case -> microseconds, summed over the layers
    for n_in, n_out in [(785, 128), (129, 64), (65, 10)]:  # [W; b] of each layer
        x = rng.random((batch, n_in), dtype=np.float32)  # (B, n_in) with the ones column
        delta = rng.standard_normal((batch, n_out), dtype=np.float32)  # (B, n_out)
        W = rng.standard_normal((n_in, n_out), dtype=np.float32)
        os.environ["MNIST_NO_BLAS"] = "1"  # bound now, so this one keeps to NumPy
        fallback = blas.Gemm(x.T, delta, W)
        del os.environ["MNIST_NO_BLAS"]
        direct = blas.Gemm(x.T, delta, W)
        shrink = 1 - lr * decay

        def plain():
            W.__isub__(lr * (x.T @ delta))

        def plain_decay():
            W.__imul__(shrink)
            W.__isub__(lr * (x.T @ delta))

        cases = {"plain": plain, "fallback": lambda: fallback(-lr, 1.0),
                 "blas": lambda: direct(-lr, 1.0), "plain_decay": plain_decay,
                 "fallback_decay": lambda: fallback(-lr, shrink)}
        number = max(20, int(2e7 // (batch * n_in * n_out)))
        times = {k: [] for k in cases}
        for _ in range(rounds):  # interleaved, so a busy moment hits every case alike
            for k, fn in cases.items():
                times[k].append(timeit.timeit(fn, number=number) / number * 1e6)
        best = {k: min(v) for k, v in times.items()}
        for k, v in best.items():
            step[k] = step.get(k, 0.0) + v
        side_by_side(f"W ({n_in}x{n_out}) -= lr * x.T @ delta, batch {batch}", best,
                     direct.f is not None)
    side_by_side(f"one SGD step of 784-128-64-10 (the three layers), batch {batch}", step,
                 blas.available())


def side_by_side(case: str, us: dict, blas_reached: bool) -> None:
    print(json.dumps({
        "case": case, **{f"{k}_us": round(v, 2) for k, v in us.items()},
        "fallback_vs_plain": round(us["fallback"] / us["plain"], 3),
        "fallback_vs_plain_decay": round(us["fallback_decay"] / us["plain_decay"], 3),
        "blas_reached": blas_reached}))


if __name__ == "__main__":
    call_overhead()
    cold_small_op()
    fallback_vs_plain()
