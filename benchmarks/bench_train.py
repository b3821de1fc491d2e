"""Training speed: ours vs PyTorch vs scikit-learn vs the bare matrix products, side by side.

For each batch size and thread count, the implementations are timed in the same run and
interleaved (round-robin over `--repeat` rounds), so a noisy shared machine hurts them alike;
the medians and their ratios are printed as one JSON line per case, then one summary line per
(batch, threads).

    .venv-bench/bin/python benchmarks/bench_train.py                 # everything
    .venv-bench/bin/python benchmarks/bench_train.py --batch 128 --threads 1 --only ours
    .venv/bin/python benchmarks/bench_train.py --only ours           # no torch needed

Implementations (all train 784-128-64-10, ReLU, softmax/CE, plain SGD, on the full 60k set):
- ours:          mnist.train() as the app runs it (the fast path, float32)
- plain-float64: the readable layer-by-layer implementation in float64, same seed: its test
                 accuracy is the reference the fast path must match (within 0.2 point)
- torch:         PyTorch CPU, the identical net, batch size and thread count, same initial
                 weights (copied from ours); batches gathered from uint8 like ours
- sklearn:       MLPClassifier(solver="sgd"), one epoch (max_iter=1)
- floor:         only the 8 matrix products of each batch's forward and backward pass, into
                 preallocated outputs: the floor a NumPy implementation cannot go below
Plus "fullbatch": 784-32-10 full-batch gradient descent (one step per epoch on all 60k).
`--rss` runs ours in a child process and reports its peak RSS while training on the full set.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere
from threadpoolctl import threadpool_limits  # noqa: E402

import mnist  # noqa: E402
from mnist import TrainConfig, build_model, train  # noqa: E402
from mnist.data.dataset import batches  # noqa: E402
from mnist.nn.optim import make_optimizer  # noqa: E402

LR = 0.05
SEED = 0


def config(batch, epochs, hidden=(128, 64), dtype="float32", init="he", lr=LR):
    return TrainConfig(hidden=hidden, activation="relu", init=init, loss="cross_entropy",
                       optimizer="sgd", lr=lr, batch_size=batch, epochs=epochs,
                       val_fraction=0.0, seed=SEED, dtype=dtype)


def clock():
    """Wall-clock and CPU time now. CPU time (this process, all its threads) is the figure
    that holds up on a shared, loaded machine: waiting for a core is not counted."""
    return time.perf_counter(), time.process_time()


def per_epoch(t0, epochs):
    wall, cpu = clock()
    return (wall - t0[0]) / epochs, (cpu - t0[1]) / epochs


def accuracy(model, test) -> float:
    return float(np.mean(model.predict(test.x()) == test.y()))


# ------------------------------------------------------------------------------------ ours
def run_ours(cfg, data, test):
    model = build_model(cfg)
    t = clock()
    for rec in train(cfg, data, model=model):
        pass
    sec = per_epoch(t, cfg.epochs)
    assert rec["status"] == "done", rec
    return sec, accuracy(model, test)


def run_plain64(cfg, data, test):
    """The readable path: MLP.forward_backward layer by layer, float64, same shuffles."""
    cfg = cfg.replace(dtype="float64")
    model = build_model(cfg)
    opt = make_optimizer("sgd", model.params(), cfg.lr)
    rng = np.random.default_rng([cfg.seed, 1])  # what train() uses for shuffling
    t = clock()
    for _ in range(cfg.epochs):
        for x, y in batches(data, cfg.batch_size, rng):
            model.forward_backward(x.astype(np.float64), y)
            opt.step()
    sec = per_epoch(t, cfg.epochs)
    return sec, accuracy(model, test)


# ------------------------------------------------------------------------------------ floor
def run_floor(cfg, data, test):
    """The matrix products of one epoch, nothing else."""
    sizes = cfg.sizes
    n = len(data)
    B = min(cfg.batch_size or n, n)
    rng = np.random.default_rng(0)
    x = rng.random((B, sizes[0]), dtype=np.float32)
    Ws = [rng.standard_normal((a, b), dtype=np.float32) * 0.05 for a, b in zip(sizes, sizes[1:])]
    hs = [np.empty((B, s), np.float32) for s in sizes[1:]]
    ds = [rng.random((B, s), dtype=np.float32) for s in sizes[1:]]
    dWs = [np.empty_like(W) for W in Ws]
    t = clock()
    for _ in range(cfg.epochs):
        for start in range(0, n, B):
            b = min(B, n - start)
            h = x[:b]
            for W, out in zip(Ws, hs):
                np.matmul(h, W, out=out[:b])
                h = out[:b]
            for i in range(len(Ws) - 1, -1, -1):
                below = x[:b] if i == 0 else hs[i - 1][:b]
                np.matmul(below.T, ds[i][:b], out=dWs[i])
                if i:
                    np.matmul(ds[i][:b], Ws[i].T, out=ds[i - 1][:b])
    return per_epoch(t, cfg.epochs), None


# ------------------------------------------------------------------------------------ torch
def run_torch(cfg, data, test, threads):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    ref = build_model(cfg)  # identical initial weights
    layers = []
    for i, dense in enumerate(ref.dense):
        lin = torch.nn.Linear(*dense.W.shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(dense.W.T.copy()))
            lin.bias.copy_(torch.from_numpy(dense.b.copy()))
        layers.append(lin)
        if i < len(ref.dense) - 1:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr)
    X = torch.from_numpy(data.flat.copy())  # uint8, like ours (a writable copy for torch)
    Y = torch.from_numpy(data.y())
    n = len(data)
    B = min(cfg.batch_size or n, n)
    g = torch.Generator().manual_seed(SEED)
    t = clock()
    for _ in range(cfg.epochs):
        perm = torch.randperm(n, generator=g)
        for start in range(0, n, B):
            idx = perm[start:start + B]
            xb = X[idx].float().div_(255)
            loss = F.cross_entropy(net(xb), Y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    sec = per_epoch(t, cfg.epochs)
    with torch.no_grad():
        pred = net(torch.from_numpy(test.x())).argmax(1).numpy()
    return sec, float(np.mean(pred == test.y()))


# ------------------------------------------------------------------------------------ sklearn
def run_sklearn(cfg, data, test, X=None):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    n = len(data)
    clf = MLPClassifier(hidden_layer_sizes=cfg.hidden, activation="relu", solver="sgd",
                        learning_rate_init=cfg.lr, momentum=0.0, nesterovs_momentum=False,
                        alpha=0.0, batch_size=min(cfg.batch_size or n, n), max_iter=cfg.epochs,
                        shuffle=True, random_state=SEED, tol=0.0, n_iter_no_change=10**6)
    X = data.x() if X is None else X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t = clock()
        clf.fit(X, data.y())
        sec = per_epoch(t, cfg.epochs)
    return sec, float(clf.score(test.x(), test.y()))


# ------------------------------------------------------------------------------------ main
def rss_child(batch: int) -> None:
    """Child process: train ours for one epoch on the full set, print peak RSS (MB)."""
    train_ds, _ = mnist.load_mnist()
    cfg = config(batch, 1)
    for _ in train(cfg, train_ds):
        pass
    # VmHWM (this process image's peak): ru_maxrss would also count the forking parent's pages
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
    print(json.dumps({"peak_rss_mb": round(int(hwm.split()[1]) / 1024, 1)}))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, action="append",
                    help="minibatch size (repeatable; default 32, 128, 512)")
    ap.add_argument("--epochs", type=int, default=1, help="epochs per timing (default 1)")
    ap.add_argument("--threads", type=int, action="append",
                    help="BLAS/torch threads (repeatable; default 1 and 2)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds (median)")
    ap.add_argument("--only", choices=["ours"], help="time only our implementation")
    ap.add_argument("--impl", action="append",
                    choices=["ours", "torch", "sklearn", "floor", "plain-float64"],
                    help="implementations to time (repeatable; default all)")
    ap.add_argument("--no-fullbatch", action="store_true", help="skip the 784-32-10 GD case")
    ap.add_argument("--rss", action="store_true", help="also measure peak RSS (child process)")
    ap.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rss_child:
        return rss_child(args.rss_child)

    train_ds, test = mnist.load_mnist()
    batch_sizes = args.batch or [32, 128, 512]
    thread_counts = args.threads or [1, 2]
    impls = ["ours"] if args.only else (
        args.impl or ["ours", "torch", "sklearn", "floor", "plain-float64"])
    if "ours" not in impls:
        impls.insert(0, "ours")  # every ratio is taken against ours
    cases = [(f"784-128-64-10 sgd batch {b}", config(b, args.epochs)) for b in batch_sizes]
    if not args.no_fullbatch:
        cases.append(("784-32-10 full-batch GD", config(None, max(args.epochs, 5),
                                                         hidden=(32,), init="uniform", lr=0.1)))
    for threads in thread_counts:
        for label, cfg in cases:
            B = min(cfg.batch_size or len(train_ds), len(train_ds))
            todo = [i for i in impls if not (i == "plain-float64" and threads > 1)]
            if cfg.batch_size is None:  # sklearn/plain at full batch: not the point here
                todo = [i for i in todo if i in ("ours", "torch", "floor")]
            times = {i: [] for i in todo}
            acc = {}
            for r in range(args.repeat):
                for impl in todo:
                    if impl == "plain-float64" and r > 0:
                        continue  # slow; one timing is enough for the accuracy reference
                    with threadpool_limits(limits=threads):
                        if impl == "ours":
                            sec, a = run_ours(cfg, train_ds, test)
                        elif impl == "plain-float64":
                            sec, a = run_plain64(cfg, train_ds, test)
                        elif impl == "floor":
                            sec, a = run_floor(cfg, train_ds, test)
                        elif impl == "torch":
                            sec, a = run_torch(cfg, train_ds, test, threads)
                        else:
                            sec, a = run_sklearn(cfg, train_ds, test)
                    times[impl].append(sec)
                    acc[impl] = a
            med = {i: statistics.median(w for w, _ in t) for i, t in times.items()}
            cpu = {i: statistics.median(c for _, c in t) for i, t in times.items()}
            for impl in todo:
                print(json.dumps({
                    "case": label, "impl": impl, "batch": B, "threads": threads,
                    "epochs": cfg.epochs, "seconds_per_epoch": round(med[impl], 4),
                    "samples_per_s": round(len(train_ds) / med[impl]),
                    "cpu_seconds_per_epoch": round(cpu[impl], 4),
                    "cpu_samples_per_s": round(len(train_ds) / cpu[impl]),
                    "test_accuracy": None if acc[impl] is None else round(acc[impl], 4),
                    "runs": len(times[impl]),
                }), flush=True)
            summary = {"case": label, "impl": "summary", "batch": B, "threads": threads,
                       "load_average": round(os.getloadavg()[0], 2)}
            for other in ("torch", "sklearn", "floor"):
                if other in med:
                    summary[f"ours_over_{other}_time"] = round(med["ours"] / med[other], 3)
                    summary[f"ours_over_{other}_cpu"] = round(cpu["ours"] / cpu[other], 3)
            if "torch" in med:
                summary["speedup_vs_torch"] = round(med["torch"] / med["ours"], 2)
                summary["speedup_vs_torch_cpu"] = round(cpu["torch"] / cpu["ours"], 2)
            if "plain-float64" in acc:
                summary["accuracy_gap_vs_plain_float64_points"] = round(
                    100 * abs(acc["ours"] - acc["plain-float64"]), 2)
            print(json.dumps(summary), flush=True)
    if args.rss:
        out = subprocess.run([sys.executable, __file__, "--rss-child", "128"],
                             capture_output=True, text=True, check=True)
        rss = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps({"case": "peak RSS, ours, full 60k, batch 128, one epoch", **rss}))


if __name__ == "__main__":
    main()
