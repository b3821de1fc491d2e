"""Data-layer timings: loading the bundled MNIST (checksums included) and parsing a 60k CSV.

Prints one JSON line per case. Run: .venv/bin/python benchmarks/bench_data.py
"""

import gzip
import io
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere
import mnist  # noqa: E402
from mnist.data.bundled import _load_mnist_cached  # noqa: E402


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main():
    def cold_load():
        _load_mnist_cached.cache_clear()
        return mnist.load_mnist()

    sec, (train, test) = timed(cold_load, 5)
    print(json.dumps({"case": "load_mnist (gunzip + sha256 + parse, 70k digits)",
                      "seconds": round(sec, 3)}))

    # A 60k-row CSV in the "MNIST in CSV" layout, built from the real training set.
    rows = np.column_stack([train.labels, train.flat]).astype(np.int64)
    buf = io.StringIO()
    buf.write("label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29)) + "\n")
    np.savetxt(buf, rows, fmt="%d", delimiter=",")
    data = buf.getvalue().encode()
    sec, ds = timed(lambda: mnist.read_dataset(data, name="mnist_train.csv"), 3)
    assert np.array_equal(ds.images, train.images)
    print(json.dumps({"case": "read_dataset 60k-row CSV (pandas C parser)",
                      "megabytes": round(len(data) / 1e6, 1), "seconds": round(sec, 2)}))

    # What one tutorial does instead: np.genfromtxt on a 6,000-row slice, extrapolated.
    head = b"\n".join(data.split(b"\n")[:6001])
    t = time.perf_counter()
    np.genfromtxt(io.BytesIO(head), delimiter=",", skip_header=1)
    g = time.perf_counter() - t
    print(json.dumps({"case": "np.genfromtxt, 6k rows (x10 = 60k estimate)",
                      "seconds": round(g, 2), "seconds_60k_estimate": round(g * 10, 1),
                      "ratio_vs_pandas": round(g * 10 / sec, 1)}))

    # Minibatches: one epoch of shuffled float32 batches of 128.
    rng = np.random.default_rng(0)
    sec, _ = timed(lambda: sum(len(x) for x, _ in mnist.batches(train, 128, rng)), 5)
    print(json.dumps({"case": "batches: one epoch of 60k at batch 128", "seconds": round(sec, 3)}))


if __name__ == "__main__":
    main()
