"""Training speed: ours vs PyTorch vs scikit-learn vs the bare matrix products, side by side.

For each net, batch size and thread count, the implementations are timed in the same run and
interleaved (round-robin over `--repeat` rounds), so a noisy shared machine hurts them alike;
the medians and their ratios are printed as one JSON line per case, then one summary line per
(net, batch, threads).

    .venv-bench/bin/python benchmarks/bench_train.py                 # everything
    .venv-bench/bin/python benchmarks/bench_train.py --batch 128 --threads 1 --only ours
    .venv-bench/bin/python benchmarks/bench_train.py --no-mlp --samples 12000   # CNNs, quicker
    .venv/bin/python benchmarks/bench_train.py --only ours           # no torch needed

Nets: the MLP 784-128-64-10 (batch 32, 128, 512) and the conv nets `--layers` (default the
bundled CNN's spec and conv8k3-pool-conv16k3-pool-64; batch 32, 64, 128), all ReLU,
softmax/CE, plain SGD. Implementations:
- ours:          mnist.train() as the app runs it (the fast path for the MLP, the layers'
                 own forward_backward for conv nets; float32)
- plain-float64: the readable layer-by-layer implementation in float64, same seed: its test
                 accuracy is the reference ours must match (within 0.2 point)
- torch:         PyTorch CPU, the identical net, batch size and thread count, same initial
                 weights (copied from ours); batches gathered from uint8 like ours
- sklearn:       MLPClassifier(solver="sgd"), one epoch (max_iter=1); the MLP only
- floor:         only the matrix products of each batch's forward and backward pass (a conv
                 layer's im2col product, its dW product and, above the first layer, its
                 dL/d(patches) product), into preallocated outputs: the floor a NumPy
                 implementation cannot go below
Plus "fullbatch": 784-32-10 full-batch gradient descent (one step per epoch on all 60k).
`--samples N` trains on a stratified N of the 60k and scales the times to a 60k epoch.
`--rss` runs ours in a child process and reports its peak RSS while training each net for
one epoch on the full set at batch 128.
"""

from __future__ import annotations

import argparse
import json
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
from mnist.nn.conv import Conv2D  # noqa: E402
from mnist.nn.layers import Activation, Dense  # noqa: E402
from mnist.nn.optim import make_optimizer  # noqa: E402
from mnist.nn.pool import Flatten, MaxPool2D  # noqa: E402

LR = 0.05
SEED = 0
EPOCH = 60_000  # times are per 60k-digit epoch whatever `--samples` trains on
SMALL_CNN = "conv8k3-pool-conv16k3-pool-64"


def bundled_cnn_spec() -> str:
    """The bundled CNN's layer spec, from its preset (the recipe models/cnn.npz comes from)."""
    from mnist.training.presets import PRESETS

    return PRESETS["cnn"][0].layers


def config(batch, epochs, hidden=(128, 64), dtype="float32", init="he", lr=LR, layers=""):
    return TrainConfig(hidden=hidden, layers=layers, activation="relu", init=init,
                       loss="cross_entropy", optimizer="sgd", lr=lr, batch_size=batch,
                       epochs=epochs, val_fraction=0.0, seed=SEED, dtype=dtype)


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
    """The readable path: the network's forward_backward layer by layer, float64, same
    shuffles."""
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
def gemm_shapes(model, B):
    """(m, k, n, needs_dx) of each layer's forward product (m x k) @ (k x n) for a batch of
    B: a Dense layer's (B, n_in) @ (n_in, n_out), a conv layer's patches (B*H'*W', k*k*C)
    @ (k*k*C, out). Backward repeats each as dW = A^T (m x n) and, for every layer but the
    first, dA = D (m x n) @ W^T (conv: the patches' gradient, what col2im would scatter)."""
    shapes, shape = [], model.input_shape
    for layer in model.layers:
        if isinstance(layer, Conv2D):
            _, H, W = shape
            Ho, Wo = layer.output_shape(H, W)
            K = layer.kernel ** 2 * layer.in_channels
            shapes.append((B * Ho * Wo, K, layer.out_channels, bool(shapes)))
            shape = (layer.out_channels, Ho, Wo)
        elif isinstance(layer, MaxPool2D):
            C, H, W = shape
            shape = (C, *layer.output_shape(H, W))
        elif isinstance(layer, Dense):
            n_in, n_out = layer.W.shape
            shapes.append((B, n_in, n_out, bool(shapes)))
            shape = (n_out,)
    return shapes


def run_floor(cfg, data, test):
    """The matrix products of one epoch, nothing else."""
    n = len(data)
    B = min(cfg.batch_size or n, n)
    shapes = gemm_shapes(build_model(cfg), B)
    rng = np.random.default_rng(0)
    f32 = np.float32
    A = [rng.random((m, k), dtype=f32) for m, k, _, _ in shapes]
    Ws = [rng.standard_normal((k, o), dtype=f32) * 0.05 for _, k, o, _ in shapes]
    outs = [np.empty((m, o), f32) for m, _, o, _ in shapes]
    ds = [rng.random((m, o), dtype=f32) for m, _, o, _ in shapes]
    dWs = [np.empty_like(W) for W in Ws]
    dAs = [np.empty((m, k), f32) if dx else None for m, k, _, dx in shapes]
    t = clock()
    for _ in range(cfg.epochs):
        for start in range(0, n, B):
            b = min(B, n - start)
            rows = [m * b // B for m, _, _, _ in shapes]  # a short last batch: fewer rows
            for a, W, out, r in zip(A, Ws, outs, rows):
                np.matmul(a[:r], W, out=out[:r])
            for i in range(len(shapes) - 1, -1, -1):
                r = rows[i]
                np.matmul(A[i][:r].T, ds[i][:r], out=dWs[i])
                if dAs[i] is not None:
                    np.matmul(ds[i][:r], Ws[i].T, out=dAs[i][:r])
    return per_epoch(t, cfg.epochs), None


# ------------------------------------------------------------------------------------ torch
def torch_net(model):
    """`model` (any of our networks: Dense, Conv2D, MaxPool2D, Flatten, ReLU) in torch.nn,
    with a copy of its current weights."""
    import torch

    out = []
    with torch.no_grad():
        for layer in model.layers:
            if isinstance(layer, Dense):
                t = torch.nn.Linear(*layer.W.shape)
                t.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.W.T)))
                t.bias.copy_(torch.from_numpy(layer.b.copy()))
            elif isinstance(layer, Conv2D):
                t = torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel,
                                    padding=layer.padding)
                t.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.W)))
                t.bias.copy_(torch.from_numpy(layer.b.copy()))
            elif isinstance(layer, MaxPool2D):
                t = torch.nn.MaxPool2d(layer.size)
            elif isinstance(layer, Flatten):
                t = torch.nn.Flatten()
            elif isinstance(layer, Activation) and layer.name == "relu":
                t = torch.nn.ReLU()
            else:
                raise ValueError(f"no torch twin for {layer!r}")
            out.append(t)
    return torch.nn.Sequential(*out)


def run_torch(cfg, data, test, threads):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    ref = build_model(cfg)  # identical initial weights
    net = torch_net(ref)
    shape = (-1, *ref.input_shape)  # (B, 784) or (B, 1, 28, 28)
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
            xb = X[idx].float().div_(255).view(shape)
            loss = F.cross_entropy(net(xb), Y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    sec = per_epoch(t, cfg.epochs)
    with torch.no_grad():
        pred = torch.cat([net(torch.from_numpy(test.x(range(s, min(s + 1000, len(test)))))
                              .view(shape)).argmax(1) for s in range(0, len(test), 1000)])
    return sec, float(np.mean(pred.numpy() == test.y()))


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
def rss_child(batch: int, layers: str) -> None:
    """Child process: train ours for one epoch on the full set, print peak RSS (MB)."""
    train_ds, _ = mnist.load_mnist()
    cfg = config(batch, 1, layers=layers)
    for _ in train(cfg, train_ds):
        pass
    # VmHWM (this process image's peak): ru_maxrss would also count the forking parent's pages
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
    print(json.dumps({"peak_rss_mb": round(int(hwm.split()[1]) / 1024, 1)}))


def cases(args):
    """(label, config) of every net and batch size asked for."""
    out = []
    if not args.no_mlp:
        out += [(f"784-128-64-10 sgd batch {b}", config(b, args.epochs))
                for b in args.batch or [32, 128, 512]]
        if not args.no_fullbatch:
            out.append(("784-32-10 full-batch GD", config(None, max(args.epochs, 5),
                                                          hidden=(32,), init="uniform", lr=0.1)))
    if not args.no_cnn:
        for spec in args.layers or [bundled_cnn_spec(), SMALL_CNN]:
            out += [(f"{spec} sgd batch {b}", config(b, args.epochs, layers=spec))
                    for b in args.batch or [32, 64, 128]]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, action="append",
                    help="minibatch size (repeatable; default 32, 128, 512 for the MLP and "
                         "32, 64, 128 for conv nets)")
    ap.add_argument("--epochs", type=int, default=1, help="epochs per timing (default 1)")
    ap.add_argument("--threads", type=int, action="append",
                    help="BLAS/torch threads (repeatable; default 1 and 2)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds (median)")
    ap.add_argument("--only", choices=["ours"], help="time only our implementation")
    ap.add_argument("--impl", action="append",
                    choices=["ours", "torch", "sklearn", "floor", "plain-float64"],
                    help="implementations to time (repeatable; default all)")
    ap.add_argument("--layers", action="append",
                    help="conv net layer spec (repeatable; default the bundled CNN's and "
                         f"{SMALL_CNN})")
    ap.add_argument("--samples", type=int, help="train on this many digits (stratified), "
                    "times scaled to a 60k epoch (default all 60k)")
    ap.add_argument("--no-mlp", action="store_true", help="skip the MLP cases")
    ap.add_argument("--no-cnn", action="store_true", help="skip the conv net cases")
    ap.add_argument("--no-fullbatch", action="store_true", help="skip the 784-32-10 GD case")
    ap.add_argument("--rss", action="store_true", help="also measure peak RSS (child process)")
    ap.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--rss-layers", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rss_child:
        return rss_child(args.rss_child, args.rss_layers)

    train_ds, test = mnist.load_mnist()
    if args.samples and args.samples < len(train_ds):
        train_ds = train_ds.subset(args.samples, seed=SEED)
    scale = EPOCH / len(train_ds)
    thread_counts = args.threads or [1, 2]
    impls = ["ours"] if args.only else (
        args.impl or ["ours", "torch", "sklearn", "floor", "plain-float64"])
    if "ours" not in impls:
        impls.insert(0, "ours")  # every ratio is taken against ours
    todo_cases = cases(args)
    for threads in thread_counts:
        for label, cfg in todo_cases:
            B = min(cfg.batch_size or len(train_ds), len(train_ds))
            todo = [i for i in impls if not (i == "plain-float64" and threads > 1)]
            if cfg.batch_size is None:  # sklearn/plain at full batch: not the point here
                todo = [i for i in todo if i in ("ours", "torch", "floor")]
            if cfg.kind != "mlp":
                todo = [i for i in todo if i != "sklearn"]
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
            med = {i: statistics.median(w for w, _ in t) * scale for i, t in times.items()}
            cpu = {i: statistics.median(c for _, c in t) * scale for i, t in times.items()}
            for impl in todo:
                print(json.dumps({
                    "case": label, "impl": impl, "batch": B, "threads": threads,
                    "epochs": cfg.epochs, "samples": len(train_ds),
                    "seconds_per_epoch": round(med[impl], 4),
                    "samples_per_s": round(EPOCH / med[impl]),
                    "cpu_seconds_per_epoch": round(cpu[impl], 4),
                    "cpu_samples_per_s": round(EPOCH / cpu[impl]),
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
        nets = ([] if args.no_mlp else [("784-128-64-10", "")]) + (
            [] if args.no_cnn else [(spec, spec) for spec in args.layers or [bundled_cnn_spec()]])
        for label, layers in nets:
            out = subprocess.run([sys.executable, __file__, "--rss-child", "128",
                                  "--rss-layers", layers],
                                 capture_output=True, text=True, check=True)
            rss = json.loads(out.stdout.strip().splitlines()[-1])
            print(json.dumps({"case": f"peak RSS, ours, {label}, full 60k, batch 128, one "
                                      "epoch", **rss, "target_mb": 300}), flush=True)


if __name__ == "__main__":
    main()
