"""Training speed: ours vs PyTorch vs scikit-learn vs the bare matrix products, side by side.

For each net, batch size and thread count, the implementations are timed in the same run and
interleaved (round-robin over `--repeat` rounds), so a noisy shared machine hurts them alike;
the medians and their ratios are printed as one JSON line per case, then one summary line per
(net, batch, threads).

    .venv-bench/bin/python benchmarks/bench_train.py                 # everything
    .venv-bench/bin/python benchmarks/bench_train.py --no-mlp        # the conv nets (below)
    .venv-bench/bin/python benchmarks/bench_train.py --batch 128 --threads 1 --only ours
    .venv/bin/python benchmarks/bench_train.py --only ours           # no torch needed

Nets: the MLP 784-128-64-10 (batch 32, 128, 512) and the conv nets `--layers` (default the
bundled CNN's spec and conv8k3-pool-conv16k3-pool-64; batch 32, 64, 128), all ReLU,
softmax/CE, plain SGD; one and two threads. Implementations:
- ours:    mnist.train() as the app runs it (float32), each timing in a fresh child process
           with that many BLAS threads; the child reports its peak RSS while training (VmHWM
           read before the test set is scored: the interpreter, NumPy, both MNIST arrays and
           every training buffer count; goal under 300 MB)
- torch:   PyTorch CPU, the identical net, batch size and thread count, same initial weights
           (copied from ours); batches gathered from uint8 like ours
- sklearn: MLPClassifier(solver="sgd"), one epoch (max_iter=1); the MLP only
- floor:   only the matrix products of each batch's forward and backward pass (a conv
           layer's im2col product, its dW product and, above the first layer, its
           dL/d(patches) product), into preallocated outputs, with the same threads: the floor
           a NumPy implementation cannot go below
Plus "fullbatch": 784-32-10 full-batch gradient descent (one step per epoch on all 60k).
Conv nets train on a stratified 6,000 of the 60k (`--samples N` to change; the MLP takes all
60k), and every time is scaled to a 60k epoch. `--no-mlp` took 16-19 minutes at a load of
7-12 (two-thread runs slow down most there); a bundled-CNN case takes about 30 s on a quiet
machine, so about 6 minutes in all. Test accuracies (of the first round's runs) are printed
for the record; whether ours computes what the plain float64 layers compute is
bench_train_accuracy.py's job.
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
from mnist.nn.conv import Conv2D  # noqa: E402
from mnist.nn.layers import Activation, Dense  # noqa: E402
from mnist.nn.pool import Flatten, MaxPool2D  # noqa: E402

LR = 0.05
SEED = 0
EPOCH = 60_000  # times are per 60k-digit epoch whatever `--samples` trains on
SMALL_CNN = "conv8k3-pool-conv16k3-pool-64"
CNN_SAMPLES = 6_000  # conv nets' default training set: ~10 min for both nets, all cases
RSS_GOAL_MB = 300


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
def proc_mb(field: str) -> float:
    """A /proc/self/status figure in MB: VmRSS (now) or VmHWM (this process image's peak;
    ru_maxrss would also count the pages of the parent that spawned it)."""
    with open("/proc/self/status") as f:
        kb = next(line for line in f if line.startswith(field + ":")).split()[1]
    return round(int(kb) / 1024, 1)


def load_data(samples):
    train_ds, test = mnist.load_mnist()
    if samples and samples < len(train_ds):
        train_ds = train_ds.subset(samples, seed=SEED)
    return train_ds, test


def ours_child(cfg_json: str, samples: int, threads: int, score: bool) -> None:
    """Child process: one timed training run of ours; prints times, peak RSS and (`score`)
    the test accuracy."""
    cfg = TrainConfig.from_json(cfg_json)
    with threadpool_limits(limits=threads):
        data, test = load_data(samples)
        rss_before = proc_mb("VmRSS")
        model = build_model(cfg)
        t = clock()
        for rec in train(cfg, data, model=model):
            pass
        sec = per_epoch(t, cfg.epochs)
        peak = proc_mb("VmHWM")  # before scoring: the test set's float copy is not training
        assert rec["status"] == "done", rec
        acc = accuracy(model, test) if score else None
    print(json.dumps({"sec": sec, "accuracy": acc, "peak_rss_mb": peak,
                      "rss_before_training_mb": rss_before}))


def run_ours(cfg, samples, threads, score=True):
    """ours_child in a fresh interpreter (a fresh process image: its own peak RSS, no pages
    or thread pools left by torch) with `threads` BLAS threads from the start."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--child", cfg.to_json(),
                          "--child-samples", str(samples or 0), "--child-threads", str(threads)]
                         + (["--child-score"] if score else []),
                         capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f"ours' child process failed:\n{out.stderr}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return tuple(r["sec"]), r["accuracy"], r


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


def run_floor(cfg, data, test, threads=1):
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
    if test is None:
        return sec, None
    with torch.no_grad():
        pred = torch.cat([net(torch.from_numpy(test.x(range(s, min(s + 1000, len(test)))))
                              .view(shape)).argmax(1) for s in range(0, len(test), 1000)])
    return sec, float(np.mean(pred.numpy() == test.y()))


# ------------------------------------------------------------------------------------ sklearn
def run_sklearn(cfg, data, test, threads=1):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    n = len(data)
    clf = MLPClassifier(hidden_layer_sizes=cfg.hidden, activation="relu", solver="sgd",
                        learning_rate_init=cfg.lr, momentum=0.0, nesterovs_momentum=False,
                        alpha=0.0, batch_size=min(cfg.batch_size or n, n), max_iter=cfg.epochs,
                        shuffle=True, random_state=SEED, tol=0.0, n_iter_no_change=10**6)
    X = data.x()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t = clock()
        clf.fit(X, data.y())
        sec = per_epoch(t, cfg.epochs)
    return sec, None if test is None else float(clf.score(test.x(), test.y()))




# ------------------------------------------------------------------------------------ main
def cases(args):
    """(label, config, training digits or None for all 60k) of every net and batch asked for."""
    out = []
    if not args.no_mlp:
        out += [(f"784-128-64-10 sgd batch {b}", config(b, args.epochs), args.samples)
                for b in args.batch or [32, 128, 512]]
        if not args.no_fullbatch:
            out.append(("784-32-10 full-batch GD", config(None, max(args.epochs, 5),
                        hidden=(32,), init="uniform", lr=0.1), args.samples))
    if not args.no_cnn:
        for spec in args.layers or [bundled_cnn_spec(), SMALL_CNN]:
            out += [(f"{spec} sgd batch {b}", config(b, args.epochs, layers=spec),
                     args.samples or CNN_SAMPLES) for b in args.batch or [32, 64, 128]]
    return out


def time_case(cfg, data, test, samples, threads, impls, repeat):
    """{impl: [(wall, cpu) seconds per epoch, one per round]}, {impl: test accuracy (first
    round's run)}, [ours' child reports]: the implementations interleaved round by round."""
    times, acc, reports = {i: [] for i in impls}, {}, []
    for r in range(repeat):
        scored = test if r == 0 else None  # scoring a conv net takes as long as its timing
        for impl in impls:
            if impl == "ours":
                sec, a, report = run_ours(cfg, samples, threads, scored is not None)
                reports.append(report)
            else:
                with threadpool_limits(limits=threads):
                    run = {"floor": run_floor, "torch": run_torch, "sklearn": run_sklearn}[impl]
                    sec, a = run(cfg, data, scored, threads)
            times[impl].append(sec)
            if r == 0:
                acc[impl] = a
    return times, acc, reports


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
    ap.add_argument("--impl", action="append", choices=["ours", "torch", "sklearn", "floor"],
                    help="implementations to time (repeatable; default all)")
    ap.add_argument("--layers", action="append",
                    help="conv net layer spec (repeatable; default the bundled CNN's and "
                         f"{SMALL_CNN})")
    ap.add_argument("--samples", type=int, help="train on this many digits (stratified), "
                    f"times scaled to a 60k epoch (default: all 60k for the MLP, "
                    f"{CNN_SAMPLES:,} for conv nets)")
    ap.add_argument("--no-mlp", action="store_true", help="skip the MLP cases")
    ap.add_argument("--no-cnn", action="store_true", help="skip the conv net cases")
    ap.add_argument("--no-fullbatch", action="store_true", help="skip the 784-32-10 GD case")
    ap.add_argument("--child", help=argparse.SUPPRESS)  # ours_child's config (JSON)
    ap.add_argument("--child-samples", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--child-threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--child-score", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return ours_child(args.child, args.child_samples, args.child_threads, args.child_score)

    impls = ["ours"] if args.only else (args.impl or ["ours", "torch", "sklearn", "floor"])
    if "ours" not in impls:
        impls.insert(0, "ours")  # every ratio is taken against ours
    datasets = {}  # training digits -> (train, test), shared by the cases
    for threads in args.threads or [1, 2]:
        for label, cfg, samples in cases(args):
            if samples not in datasets:
                datasets[samples] = load_data(samples)
            data, test = datasets[samples]
            n = len(data)
            B = min(cfg.batch_size or n, n)
            todo = [i for i in impls if not (
                i == "sklearn" and (cfg.kind != "mlp" or cfg.batch_size is None))]
            times, acc, reports = time_case(cfg, data, test, samples, threads, todo,
                                            args.repeat)
            scale = EPOCH / n
            med = {i: statistics.median(w for w, _ in t) * scale for i, t in times.items()}
            cpu = {i: statistics.median(c for _, c in t) * scale for i, t in times.items()}
            for impl in todo:
                line = {"case": label, "impl": impl, "batch": B, "threads": threads,
                        "epochs": cfg.epochs, "samples": n,
                        "seconds_per_epoch": round(med[impl], 4),
                        "samples_per_s": round(EPOCH / med[impl]),
                        "cpu_seconds_per_epoch": round(cpu[impl], 4),
                        "cpu_samples_per_s": round(EPOCH / cpu[impl]),
                        "test_accuracy": None if acc[impl] is None else round(acc[impl], 4),
                        "runs": len(times[impl])}
                if impl == "ours":
                    line["peak_rss_mb"] = max(r["peak_rss_mb"] for r in reports)
                    line["rss_before_training_mb"] = max(r["rss_before_training_mb"]
                                                         for r in reports)
                print(json.dumps(line), flush=True)
            summary = {"case": label, "impl": "summary", "batch": B, "threads": threads,
                       "load_average": round(os.getloadavg()[0], 2)}
            for other in ("torch", "sklearn", "floor"):
                if other in med:
                    summary[f"ours_over_{other}_time"] = round(med["ours"] / med[other], 3)
                    summary[f"ours_over_{other}_cpu"] = round(cpu["ours"] / cpu[other], 3)
            if "torch" in med:
                summary["speedup_vs_torch"] = round(med["torch"] / med["ours"], 2)
                summary["speedup_vs_torch_cpu"] = round(cpu["torch"] / cpu["ours"], 2)
            summary["peak_rss_mb"] = max(r["peak_rss_mb"] for r in reports)
            summary["rss_goal_mb"] = RSS_GOAL_MB
            print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
