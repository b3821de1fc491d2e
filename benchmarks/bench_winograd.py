"""One Conv2D layer's training pass on im2col and on Winograd's algorithm, side by side.

For each layer shape and batch size, the layer (float32, one BLAS thread) runs its training
forward, and its forward + backward, on each algorithm in turn, interleaved over `--repeat`
rounds; the medians (ms) and their ratio are printed as one JSON line per case. These are
the figures behind `mnist.nn.conv.WINOGRAD` (which kernel sizes, from how many input
channels, run on Winograd): a layer goes there where the whole pass is faster. (Under a 2x2
pool the choice is `WINOGRAD_POOLED`'s, from benchmarks/bench_convpool.py.)

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_winograd.py
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_winograd.py --batch 64 --tile 4
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere
import mnist.nn.conv as conv_module  # noqa: E402
from mnist.nn.conv import Conv2D  # noqa: E402
from mnist.nn.winograd import Winograd  # noqa: E402

# (in, out, kernel, side): the bundled CNN's second layer, the small CNN's, and neighbours
SHAPES = [(16, 32, 5, 14), (8, 16, 5, 14), (16, 32, 3, 14), (8, 16, 3, 14), (32, 64, 3, 7)]


def per_call_ms(f, seconds: float = 0.3) -> float:
    f()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        f()
        calls += 1
    return (time.perf_counter() - start) / calls * 1e3


def layer_on(algorithm: str, C: int, O: int, k: int, tile: int) -> Conv2D:
    """A Conv2D whose passes run on `algorithm` ("im2col" or "winograd")."""
    conv_module.WINOGRAD = {k: (tile, 1)} if algorithm == "winograd" else {}
    return Conv2D(C, O, k, rng=0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, action="append", help="default 32 and 128")
    ap.add_argument("--tile", type=int, default=2, help="Winograd's output tile (2 or 4)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    chosen = dict(conv_module.WINOGRAD)  # before layer_on changes it
    pooled = conv_module.WINOGRAD_POOLED
    for B in args.batch or [32, 128]:
        for C, O, k, side in SHAPES:
            rng = np.random.default_rng(0)
            x = rng.random((B, C, side, side), dtype=np.float32)
            d = rng.standard_normal((B, O, side, side), dtype=np.float32)
            times = {}
            for _ in range(args.repeat):
                for algorithm in ("im2col", "winograd"):
                    layer = layer_on(algorithm, C, O, k, args.tile)
                    layer.forward(x, training=True)
                    assert isinstance(layer._ws, Winograd) == (algorithm == "winograd")
                    fwd = per_call_ms(lambda: layer.forward(x, training=True))
                    both = per_call_ms(lambda: (layer.forward(x, training=True),
                                                layer.backward(d)))
                    times.setdefault(algorithm, []).append((fwd, both))
            med = {a: [statistics.median(t[i] for t in ts) for i in (0, 1)]
                   for a, ts in times.items()}
            print(json.dumps({
                "layer": f"{C}->{O} {k}x{k} on {side}x{side}", "batch": B, "tile": args.tile,
                "im2col_fwd_ms": round(med["im2col"][0], 3),
                "im2col_fwd_bwd_ms": round(med["im2col"][1], 3),
                "winograd_fwd_ms": round(med["winograd"][0], 3),
                "winograd_fwd_bwd_ms": round(med["winograd"][1], 3),
                "winograd_speedup": round(med["im2col"][1] / med["winograd"][1], 2),
                "app_uses_winograd": k in chosen and C >= chosen[k][1],
                # ... where a 2x2 pool follows (fused: mnist/nn/convpool.py)
                "app_uses_winograd_under_pool": k in pooled and C >= pooled[k][1],
                "load_1min": round(os.getloadavg()[0], 2),
            }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
