"""Accuracy: our float32 training against the plain float64 layers, over several seeds.

bench_train.py's speed must not come from computing something else: after the benchmark's
epochs, our test accuracy must equal the plain float64 layers' within 0.2 point. Both start
from the same initial weights (float64 ones, rounded to float32 for ours) and take the same
minibatches in the same order (plain SGD, lr 0.05, `bench_train.config`); ours is
`mnist.train` as the app runs it, the reference the readable layer-by-layer loop in float64.

Why several seeds and not one: the two runs take the same steps (their losses agree to about
1e-7) until, after some hundreds of steps, one pre-activation lies within float32's rounding
of zero and lands on the other side of it in the other dtype (a ReLU kink; a max-pool's
winner can flip the same way). That step's gradient differs by several percent, and from
there the two trajectories part as two seeds' do: SGD is chaotic, and a float64 run started
from the float32-rounded weights (`--control`, a 3e-8 nudge) parts from the float64 run just
the same. With a constant lr 0.05 one epoch ends wherever its last steps leave it (one large
last step can cost several points), so one seed's end-of-epoch accuracy is noise at the scale
of the goal. The goal is checked on the mean over seeds; what a bug would break is reported
beside it:
- `steps_together`: steps before the two losses first differ by more than 1e-4 (relative);
  a float32 path that computes something else parts at the first steps;
- `agreement`: the fraction of the 10k test digits both runs predict alike;
- `grad_error_median`: every 25 steps of the float64 run, the float32 path ours takes
  computes the gradients from the same weights (rounded) on the same batch; the median of the
  largest relative error over the parameters. float32 rounding gives about 1e-6; a bug, far
  more. `grad_checks_over_1e-4` counts the checks that met a kink (rare, and they are why the
  runs part).

One JSON line per (net, batch, seed), then a summary per (net, batch). About 4 CPU minutes
with the defaults (the bundled CNN's float64 epochs are most of it):

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_train_accuracy.py
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_train_accuracy.py --layers 128-64 \
        --batch 32 --batch 128 --batch 512 --seeds 1        # the MLP (its fast path)
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from anywhere
sys.path.insert(0, str(HERE))
from bench_train import SEED, SMALL_CNN, bundled_cnn_spec, config  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import mnist  # noqa: E402
from mnist import build_model, train  # noqa: E402
from mnist.data.dataset import batches  # noqa: E402
from mnist.nn.fast import forward_backward_for  # noqa: E402
from mnist.nn.optim import make_optimizer  # noqa: E402

GOAL_POINTS = 0.2
PART = 1e-4  # relative loss difference at which two runs have parted (rounding: ~1e-7)
CHECK_EVERY = 25  # steps between gradient checks along the float64 run
KINK = 1e-4  # a check's gradient error above this: a kink or a max-pool tie at that step


def run_ours(cfg, data):
    """mnist.train in float32; (model, the loss of every step but each epoch's last)."""
    model = build_model(cfg)
    records = list(train(cfg, data, model=model, report_every=1))
    assert records[-1]["status"] == "done", records[-1]
    return model, [r["train_loss"] for r in records if r["status"] == "running"]


def copy_weights(dst, src) -> None:
    for (p, _), (q, _) in zip(dst.params(), src.params()):
        p[...] = q


def run_plain64(cfg, data, start=None, check=None):
    """The layers' own forward_backward in float64, train()'s shuffles; `start`: a model whose
    weights to begin from (else the seed's, in float64). With `check` (a float32 model), every
    CHECK_EVERY steps the float32 path's gradients from this run's weights on the same batch:
    (model, losses, [the largest relative gradient error over the parameters, per check])."""
    cfg = cfg.replace(dtype="float64")
    model = build_model(cfg)
    if start is not None:
        copy_weights(model, start)
    opt = make_optimizer("sgd", model.params(), cfg.lr)
    rng = np.random.default_rng([cfg.seed, 1])  # what train() shuffles with
    fb32 = forward_backward_for(check, cfg.batch_size) if check is not None else None
    losses, errors = [], []
    for _ in range(cfg.epochs):
        for x, y in batches(data, cfg.batch_size, rng):
            checking = fb32 is not None and len(losses) % CHECK_EVERY == 0
            if checking:  # the float32 path ours takes, from the same weights
                copy_weights(check, model)
                fb32(x, y, 0.0)
            losses.append(model.forward_backward(x.astype(np.float64), y)[0])
            if checking:
                errors.append(max(float(np.linalg.norm(g32 - g) / np.linalg.norm(g))
                                  for (_, g32), (_, g) in zip(check.params(), model.params())))
            opt.step()
    return model, losses, errors


def steps_together(a, b) -> int:
    """Steps before the loss sequences first differ by more than PART (relative)."""
    for i, (u, v) in enumerate(zip(a, b)):
        if abs(u - v) > PART * max(abs(v), 1e-12):
            return i
    return min(len(a), len(b))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", action="append",
                    help="layer spec (repeatable; default the bundled CNN's and "
                         f"{SMALL_CNN}; 128-64 = the MLP)")
    ap.add_argument("--batch", type=int, action="append", help="repeatable; default 64")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--samples", type=int, help="train on this many digits (stratified)")
    ap.add_argument("--control", action="store_true",
                    help="also a float64 run from the float32-rounded weights: how far "
                         "rounding alone moves the result")
    args = ap.parse_args(argv)

    train_ds, test = mnist.load_mnist()
    if args.samples and args.samples < len(train_ds):
        train_ds = train_ds.subset(args.samples, seed=SEED)
    x_test, y_test = test.x(), test.y()
    for spec in args.layers or [bundled_cnn_spec(), SMALL_CNN]:
        for B in args.batch or [64]:
            rows = []
            for seed in range(args.seeds):
                cfg = config(B, args.epochs, layers=spec).replace(seed=seed)
                t0 = time.process_time()
                with threadpool_limits(limits=1):
                    ours, l32 = run_ours(cfg, train_ds)
                    ref, l64, errors = run_plain64(cfg, train_ds, check=build_model(cfg))
                    # build_model(cfg): ours' float32 start
                    ctl, lc, _ = (run_plain64(cfg, train_ds, start=build_model(cfg))
                                  if args.control else (None, None, None))
                p32, p64 = ours.predict(x_test), ref.predict(x_test)
                row = {"case": f"{cfg.spec} sgd batch {B}", "seed": seed,
                       "samples": len(train_ds), "epochs": cfg.epochs, "steps": len(l64),
                       "ours": float(np.mean(p32 == y_test)),
                       "plain_float64": float(np.mean(p64 == y_test)),
                       "agreement": round(float(np.mean(p32 == p64)), 4),
                       "steps_together": steps_together(l32, l64),
                       "grad_error_median": float(f"{np.median(errors):.2g}"),
                       "grad_checks_over_1e-4": sum(e > KINK for e in errors),
                       "grad_checks": len(errors)}
                row["gap_points"] = round(100 * (row["ours"] - row["plain_float64"]), 2)
                if ctl is not None:
                    pc = ctl.predict(x_test)
                    row["control_float64"] = float(np.mean(pc == y_test))
                    row["control_gap_points"] = round(
                        100 * (row["control_float64"] - row["plain_float64"]), 2)
                    row["control_agreement"] = round(float(np.mean(pc == p64)), 4)
                    row["control_steps_together"] = steps_together(lc, l64)
                row["cpu_seconds"] = round(time.process_time() - t0, 1)
                rows.append(row)
                print(json.dumps(row), flush=True)
            mean = {k: statistics.fmean(r[k] for r in rows) for k in ("ours", "plain_float64")}
            gap = 100 * (mean["ours"] - mean["plain_float64"])
            summary = {
                "case": rows[0]["case"], "impl": "summary", "seeds": len(rows),
                "ours_mean": round(mean["ours"], 4),
                "plain_float64_mean": round(mean["plain_float64"], 4),
                "gap_of_means_points": round(gap, 2), "goal_points": GOAL_POINTS,
                "within_goal": abs(gap) <= GOAL_POINTS,
                "largest_seed_gap_points": max((abs(r["gap_points"]) for r in rows)),
                "seed_spread_points": round(100 * (max(r["plain_float64"] for r in rows)
                                                   - min(r["plain_float64"] for r in rows)), 2),
                "mean_agreement": round(statistics.fmean(r["agreement"] for r in rows), 4),
                "min_steps_together": min(r["steps_together"] for r in rows),
                "worst_seed_grad_error_median": max(r["grad_error_median"] for r in rows),
                "load_average": round(os.getloadavg()[0], 2)}
            if args.control:
                summary["control_mean_abs_gap_points"] = round(statistics.fmean(
                    abs(r["control_gap_points"]) for r in rows), 2)
            print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
