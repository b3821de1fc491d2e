"""A conv and its 2x2 max pool: fused (mnist/nn/convpool.py PooledConv) against the two
layers one after the other, side by side, one BLAS thread.

For each case (in channels, out channels, kernel, image side) and batch, both run
`--rounds` interleaved rounds of `--reps` training forwards and then `--reps` forward +
backward passes; the medians (ms per pass) print as one JSON line per case. The conv has no
input gradient when it has one channel (a first layer), as in a network. One-channel cases
that PooledConv would not fuse for their junk columns (mnist/nn/convpool.py JUNK_MAX) are
timed fused anyway and marked `"fuses": false`: the figures behind that rule. Where the
fused pair runs on Winograd's convolution (`"algorithm"`, conv.WINOGRAD_POOLED) it is also
timed fused on im2col (`fused_im2col_step_ms`): the figures behind that table. "plain" is
whatever the conv alone runs on (conv.WINOGRAD). Last (without `--case`), the one-channel
layer's products written pixel by pixel against channel-major, as PooledConv writes them.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_convpool.py
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_convpool.py --batch 128 \\
        --case 1,8,3,28
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere
import mnist.nn.conv as conv_module  # noqa: E402
import mnist.nn.convpool as convpool  # noqa: E402
from mnist.nn.conv import Conv2D  # noqa: E402
from mnist.nn.pool import MaxPool2D  # noqa: E402

CASES = ["1,8,3,28", "1,16,3,28", "1,8,5,28", "1,16,5,28", "8,16,3,14", "16,32,3,14"]


class OnIm2col:
    """A PooledConv with Winograd's convolution switched off (conv.WINOGRAD_POOLED empty
    around each call): the fused pair on im2col, to set beside the fused pair on Winograd."""

    def __init__(self, fused):
        self.fused = fused

    def _call(self, method, *args):
        table = conv_module.WINOGRAD_POOLED
        conv_module.WINOGRAD_POOLED = {}
        try:
            return getattr(self.fused, method)(*args)
        finally:
            conv_module.WINOGRAD_POOLED = table

    def forward(self, x, training):
        return self._call("forward", x, training)

    def backward(self, d):
        return self._call("backward", d)


class Plain:
    """The two layers, one after the other."""

    def __init__(self, conv, pool):
        self.conv, self.pool = conv, pool

    def forward(self, x, training):
        return self.pool.forward(self.conv.forward(x, training), training)

    def backward(self, d):
        return self.conv.backward(self.pool.backward(d))


def time_case(C, O, k, side, batch, rounds, reps):
    rng = np.random.default_rng(0)
    x = rng.random((batch, C, side, side), dtype=np.float32)
    d = rng.standard_normal((batch, O, side // 2, side // 2), dtype=np.float32)
    conv = Conv2D(C, O, k, rng=0)
    conv.need_dx = C > 1
    fused = convpool.PooledConv(conv, MaxPool2D(2))
    fuses = fused.fuses(side, side)
    limit = convpool.JUNK_MAX
    convpool.JUNK_MAX = float("inf")  # time it fused even where the rule says no
    try:
        runs = {"fused": fused, "plain": Plain(copy.deepcopy(conv), MaxPool2D(2))}
        winograd = bool(conv.winograd_tile(side, side, pooled=True))
        if winograd:
            twin = copy.deepcopy(conv)
            runs["fused_im2col"] = OnIm2col(convpool.PooledConv(twin, MaxPool2D(2)))
        times = {name: ([], []) for name in runs}
        for _ in range(rounds + 1):  # the first round: warm-up, not counted
            for name, layer in runs.items():
                t0 = time.perf_counter()
                for _ in range(reps):
                    layer.forward(x, training=True)
                t1 = time.perf_counter()
                for _ in range(reps):
                    layer.forward(x, training=True)
                    layer.backward(d)
                t2 = time.perf_counter()
                times[name][0].append((t1 - t0) / reps * 1e3)
                times[name][1].append((t2 - t1) / reps * 1e3)
    finally:
        convpool.JUNK_MAX = limit
    med = {name: (statistics.median(f[1:]), statistics.median(fb[1:]))
           for name, (f, fb) in times.items()}
    line = dict(case=f"{C}->{O} k{k} {side}x{side}", batch=batch, fuses=fuses,
                algorithm="winograd" if winograd else "im2col",
                fused_forward_ms=round(med["fused"][0], 3),
                plain_forward_ms=round(med["plain"][0], 3),
                fused_step_ms=round(med["fused"][1], 3),
                plain_step_ms=round(med["plain"][1], 3),
                step_ratio=round(med["fused"][1] / med["plain"][1], 3))
    if winograd:
        line["fused_im2col_step_ms"] = round(med["fused_im2col"][1], 3)
    return dict(line, load_1min=round(os.getloadavg()[0], 2))


def time_orientation(O, batch, rounds, reps):
    """The one-channel 3x3 layer's forward products on 28x28 (its grouped grid, 14 rows of
    15 pixels a place), in blocks of convpool.STREAM_BYTES of outputs, written pixel by
    pixel, (pixels, O), or channel-major, (O, pixels) as PooledConv writes them: ms for all
    of a batch's."""
    from mnist.nn.blas import Gemm

    rng = np.random.default_rng(0)
    block = 14 * 15  # one image's pixels in one place
    M = batch * 4 * block
    cols = rng.random((10, M), dtype=np.float32)  # 9 taps and the ones row
    Wb = rng.standard_normal((10, O), dtype=np.float32)
    rows = max(block, convpool.STREAM_BYTES // (O * 4) // block * block)
    by_pixel, by_channel = np.empty((rows, O), np.float32), np.empty((O, rows), np.float32)
    starts = [(a, min(rows, M - a)) for a in range(0, M, rows)]
    products = {
        "pixel_rows": [Gemm(cols[:, a:a + n].T, Wb, by_pixel[:n]) for a, n in starts],
        "channel_major": [Gemm(Wb.T, cols[:, a:a + n], by_channel[:, :n]) for a, n in starts]}
    times = {name: [] for name in products}
    for _ in range(rounds + 1):
        for name, gemms in products.items():
            t = time.perf_counter()
            for _ in range(reps):
                for g in gemms:
                    g(1.0, 0.0)
            times[name].append((time.perf_counter() - t) / reps * 1e3)
    med = {name: statistics.median(t[1:]) for name, t in times.items()}
    return dict(case=f"products of 1->{O} k3 28x28, by place", batch=batch,
                pixel_rows_ms=round(med["pixel_rows"], 3),
                channel_major_ms=round(med["channel_major"], 3),
                ratio=round(med["pixel_rows"] / med["channel_major"], 2),
                load_1min=round(os.getloadavg()[0], 2))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", action="append", help="C,O,k,side (repeatable; default: "
                    + " ".join(CASES) + ")")
    ap.add_argument("--batch", type=int, action="append", help="default 32 and 128")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args(argv)
    for case in args.case or CASES:
        C, O, k, side = (int(v) for v in case.split(","))
        for batch in args.batch or [32, 128]:
            print(json.dumps(time_case(C, O, k, side, batch, args.rounds, args.reps)),
                  flush=True)
    if args.case is None:
        for O in (8, 16):
            print(json.dumps(time_orientation(O, 128, args.rounds, args.reps)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
