"""Inference speed of the bundled models: one canvas digit, and the whole 10k test set.

For the MLP (models/default.npz) and the CNN (models/cnn.npz): one 28x28 digit through
`predict_proba` (preprocessing excluded), one canvas through the Draw page's work
(`preprocess_canvas` of a 280x280 RGBA drawing, from pixels and with the canvas's strokes,
then `predict_proba`: preprocessing included), and the 10k test set. Medians after warm-up,
wall and CPU milliseconds (the CPU figure is the steadier one on a busy shared machine).
One JSON line per case. Goals: one digit under 1 ms (MLP); one canvas prediction under 2 ms
(CNN), preprocessing excluded and included.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_infer.py
    .venv/bin/python benchmarks/bench_infer.py --model models/cnn.npz --repeat 20
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere
import mnist  # noqa: E402
from mnist.drawing import preprocess_canvas  # noqa: E402
from tests.drawing.drawings import draw, fabric_json  # noqa: E402  (the tests' canvas renderer)

GOAL_ONE_MS = {"mlp": 1.0, "cnn": 2.0}  # one canvas digit, preprocessing excluded
GOAL_CANVAS_MS = {"mlp": None, "cnn": 2.0}  # the same, preprocessing included
GOAL_TEST_MS = {"mlp": 100.0, "cnn": None}  # the CNN: no goal, reported
# a 2 drawn with a 24 px pen on the 280x280 canvas, as pen paths in canvas pixels
TWO = [[(70, 80), (100, 45), (160, 40), (200, 75), (190, 120), (60, 240), (220, 240)]]


def median_ms(fn, repeat, number=1):
    """(wall, cpu) median milliseconds per call of fn, after one warm-up call."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        for _ in range(number):
            fn()
        wall.append((time.perf_counter() - t) / number)
        cpu.append((time.process_time() - c) / number)
    return 1e3 * statistics.median(wall), 1e3 * statistics.median(cpu)


def emit(model_path, case, ms, goal=None, **extra):
    wall, cpu = ms
    row = {"model": os.path.relpath(model_path, ROOT), "case": case, "ms": round(wall, 4),
           "cpu_ms": round(cpu, 4)}
    if goal is not None:
        row.update(goal_ms=goal, ok=min(wall, cpu) < goal)
    print(json.dumps({**row, **extra}), flush=True)


def bench(path, test, repeat):
    model = mnist.load_model(path)
    kind = "cnn" if model.kind == "cnn" else "mlp"
    one = test.x([0])  # (1, 784): what the canvas sends after preprocessing
    emit(path, "one 28x28 digit, predict_proba (preprocessing excluded)",
         median_ms(lambda: model.predict_proba(one), repeat, 100), GOAL_ONE_MS[kind])
    rgba, strokes = draw(TWO, 24), fabric_json(TWO, 24, curves=True)
    for label, strokes_in in (("from pixels", None), ("with strokes", strokes)):
        def canvas_prediction():
            img = preprocess_canvas(rgba, strokes=strokes_in)  # (28, 28)
            return model.predict_proba(img.reshape(1, -1))
        emit(path, f"one 280x280 canvas {label}: preprocess_canvas + predict_proba "
             "(preprocessing included)", median_ms(canvas_prediction, repeat, 10),
             GOAL_CANVAS_MS[kind], predicted=int(canvas_prediction().argmax()))
    x = test.x()
    emit(path, "10k test set, predict_proba (float32 input ready)",
         median_ms(lambda: model.predict_proba(x), max(3, repeat // 4)), GOAL_TEST_MS[kind])
    acc = float(np.mean(model.predict(x) == test.y()))
    emit(path, "10k test set, from uint8 (conversion + predict)",
         median_ms(lambda: model.predict(test.x()), max(3, repeat // 4)), GOAL_TEST_MS[kind],
         test_accuracy=round(acc, 4))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append",
                    help="model .npz (repeatable; default the bundled MLP and CNN)")
    ap.add_argument("--repeat", type=int, default=40, help="timed rounds (median)")
    args = ap.parse_args(argv)
    paths = args.model or [p for p in (ROOT / "models" / "default.npz",
                                       ROOT / "models" / "cnn.npz") if p.exists()]
    _, test = mnist.load_mnist()
    for path in paths:
        bench(Path(path).resolve(), test, args.repeat)


if __name__ == "__main__":
    main()
