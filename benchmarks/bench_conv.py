"""Convolution layers' training speed: ours vs PyTorch, side by side, one thread.

The net is conv8k3(same)-relu-pool-conv16k3-relu-pool-flatten-dense64-relu-dense10 with
softmax/cross-entropy and a plain SGD step, trained on the first `--samples` MNIST digits
(scaled to a 60k epoch). Ours is a plain composition of the layers (mnist/nn/conv.py, pool.py, layers.py);
PyTorch gets the identical net, batches and initial weights. Both run in the same process,
interleaved round by round (a busy shared machine slows them alike), on one thread each
(threadpoolctl for NumPy's BLAS, torch.set_num_threads(1)). One JSON line per case, then
one summary line per batch size with the ratio. Figures are CPU seconds of this process:
on a loaded machine, waiting for a core is not counted.

    .venv-bench/bin/python benchmarks/bench_conv.py                    # batch 32, 64, 128
    .venv-bench/bin/python benchmarks/bench_conv.py --batch 64 --repeat 5 --samples 12000
    .venv/bin/python benchmarks/bench_conv.py --impl ours              # no torch needed
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere
from threadpoolctl import threadpool_limits  # noqa: E402

from mnist.data import load_mnist  # noqa: E402
from mnist.nn.conv import Conv2D  # noqa: E402
from mnist.nn.layers import Activation, Dense  # noqa: E402
from mnist.nn.losses import LOSSES  # noqa: E402
from mnist.nn.pool import Flatten, MaxPool2D  # noqa: E402

LR = 0.05
EPOCH = 60_000


def our_net(seed: int = 0):
    rng = np.random.default_rng(seed)
    layers = [Conv2D(1, 8, 3, "same", rng=rng), Activation("relu"), MaxPool2D(2),
              Conv2D(8, 16, 3, "same", rng=rng), Activation("relu"), MaxPool2D(2), Flatten(),
              Dense(16 * 7 * 7, 64, rng=rng), Activation("relu"), Dense(64, 10, rng=rng)]
    layers[0].need_dx = False  # nobody needs the pixels' gradient
    return layers


def run_ours(layers, x, y, batch):
    """One pass over (x, y) in order; the last batch's loss."""
    ce = LOSSES["cross_entropy"]
    for s in range(0, len(x), batch):
        a = x[s:s + batch]
        for layer in layers:
            a = layer.forward(a, training=True)
        loss, delta = ce.loss_and_delta(a, y[s:s + batch], overwrite=True)
        for layer in reversed(layers):
            delta = layer.backward(delta)
        for layer in layers:
            for p, g in layer.params():
                p -= LR * g
    return loss


def torch_net(layers):
    """The same net in torch.nn, with a copy of `layers`' current weights."""
    import torch

    conv1, conv2, dense1, dense2 = (layers[i] for i in (0, 3, 7, 9))
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding="same"), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding="same"), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(784, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    with torch.no_grad():
        for t, ours in zip((net[0], net[3]), (conv1, conv2)):
            t.weight.copy_(torch.from_numpy(np.ascontiguousarray(ours.W)))
            t.bias.copy_(torch.from_numpy(ours.b.copy()))
        for t, ours in zip((net[7], net[9]), (dense1, dense2)):
            t.weight.copy_(torch.from_numpy(np.ascontiguousarray(ours.W.T)))
            t.bias.copy_(torch.from_numpy(ours.b.copy()))
    return net


def run_torch(net, x, y, batch):
    import torch
    import torch.nn.functional as F

    opt = torch.optim.SGD(net.parameters(), lr=LR)
    for s in range(0, len(x), batch):
        loss = F.cross_entropy(net(x[s:s + batch]), y[s:s + batch])
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()
    return loss.item()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--samples", type=int, default=6000, help="digits per timed pass")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds (median)")
    ap.add_argument("--impl", choices=["ours", "torch"], action="append")
    args = ap.parse_args(argv)
    impls = args.impl or ["ours", "torch"]
    threadpool_limits(1)
    if "torch" in impls:
        import torch

        torch.set_num_threads(1)
    train, _ = load_mnist()
    x = (train.images[:args.samples].astype(np.float32) / 255)[:, None]  # (n, 1, 28, 28)
    y = train.labels[:args.samples].astype(np.int64)
    for batch in args.batch:
        layers = our_net()
        runners = {"ours": lambda: run_ours(layers, x, y, batch)}
        if "torch" in impls:
            net = torch_net(layers)  # the same start as ours
            xt, yt = torch.from_numpy(x), torch.from_numpy(y)
            runners["torch"] = lambda: run_torch(net, xt, yt, batch)
        times = {name: [] for name in impls}
        losses = {}
        for _ in range(args.repeat):
            for name in impls:
                t0, c0 = time.perf_counter(), time.process_time()
                losses[name] = runners[name]()
                times[name].append((time.process_time() - c0, time.perf_counter() - t0))
        scale = EPOCH / len(x)
        result = {}
        for name in impls:
            cpu = statistics.median(c for c, _ in times[name]) * scale
            wall = statistics.median(w for _, w in times[name]) * scale
            result[name] = cpu
            print(json.dumps(dict(case="conv8k3-pool-conv16k3-pool-64", impl=name, batch=batch,
                                  threads=1, sec_per_epoch_cpu=round(cpu, 3),
                                  sec_per_epoch_wall=round(wall, 3),
                                  samples_per_s=round(EPOCH / cpu), repeat=args.repeat,
                                  samples=len(x), last_loss=round(losses[name], 4))),
                  flush=True)
        if "torch" in result:
            print(json.dumps(dict(summary=True, batch=batch, threads=1,
                                  speedup_vs_torch=round(result["torch"] / result["ours"], 2))),
                  flush=True)


if __name__ == "__main__":
    main()
