"""Inference speed of the bundled model: one canvas digit, and the whole 10k test set.

Prints one JSON line per case (medians after warm-up).
    .venv/bin/python benchmarks/bench_infer.py
"""

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere
import mnist  # noqa: E402


def median_seconds(fn, repeat, number=1):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t) / number)
    return statistics.median(times)


def main():
    model = mnist.load_model(ROOT / "models" / "default.npz")
    _, test = mnist.load_mnist()
    one = test.x([0])  # (1, 784): what the canvas sends after preprocessing
    sec = median_seconds(lambda: model.predict_proba(one), repeat=50, number=100)
    print(json.dumps({"case": "one 28x28 digit, predict_proba", "ms": round(sec * 1e3, 4),
                      "target_ms": 1.0}))
    x = test.x()
    sec = median_seconds(lambda: model.predict_proba(x), repeat=15)
    print(json.dumps({"case": "10k test set, predict_proba (float32 input ready)",
                      "ms": round(sec * 1e3, 2), "target_ms": 100.0}))
    sec = median_seconds(lambda: model.predict(test.x()), repeat=15)
    acc = float(np.mean(model.predict(x) == test.y()))
    print(json.dumps({"case": "10k test set, from uint8 (conversion + predict)",
                      "ms": round(sec * 1e3, 2), "target_ms": 100.0,
                      "test_accuracy": round(acc, 4)}))


if __name__ == "__main__":
    main()
