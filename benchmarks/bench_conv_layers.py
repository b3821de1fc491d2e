"""Where a conv net's training step goes: each layer's forward and backward, one BLAS thread.

The net's layers run in the order a training pass runs them (`mnist.nn.model.run_order`: a
ReLU before a max pool runs after it, and a conv, its pool and that ReLU as one PooledConv),
on random pixels, `--steps` times after a warm-up, each call timed on its own; one JSON line
per layer (mean ms per step), then the whole step.
Timing each call moves cache effects from one layer to the next; the step total comes close
to bench_train.py's for the same net and batch (7.2-7.5 ms for the small net at batch 128,
whose bench_train.py epoch of 469 steps took 3.6-3.7 s).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_conv_layers.py
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_conv_layers.py \\
        --layers conv16k5-pool-conv32k5-pool-128 --batch 32
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere
from mnist.nn.model import build_network, run_order  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", default="conv8k3-pool-conv16k3-pool-64")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args(argv)
    net = build_network(args.layers, seed=0)
    layers = run_order(net.layers)
    x = np.random.default_rng(0).random((args.batch, 1, 28, 28), dtype=np.float32)
    fwd, bwd = np.zeros(len(layers)), np.zeros(len(layers))
    for step in range(args.steps + 20):  # the first 20: warm-up, not counted
        count = step >= 20
        h = x
        for i, layer in enumerate(layers):
            t = time.perf_counter()
            h = layer.forward(h, training=True)
            fwd[i] += (time.perf_counter() - t) * count
        d = np.full_like(h, 0.01)
        for i in range(len(layers) - 1, -1, -1):
            t = time.perf_counter()
            d = layers[i].backward(d)
            bwd[i] += (time.perf_counter() - t) * count
    ms = 1e3 / args.steps
    for layer, f, b in zip(layers, fwd, bwd):
        name = getattr(layer, "name", None) or (
            f"Dense{layer.W.shape}" if type(layer).__name__ == "Dense" else repr(layer))
        print(json.dumps(dict(layer=name, forward_ms=round(f * ms, 3),
                              backward_ms=round(b * ms, 3))))
    total = (fwd.sum() + bwd.sum()) * ms
    print(json.dumps(dict(case="step", layers=args.layers, batch=args.batch,
                          ms=round(total, 3), samples_per_s=round(args.batch / total * 1e3),
                          threads=os.environ.get("OPENBLAS_NUM_THREADS"),
                          load_1min=round(os.getloadavg()[0], 2))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
