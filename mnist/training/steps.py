"""Steppers: one optimisation step per minibatch, called the same way whichever path computes it.

    stepper = make_stepper(model, opt, data, batch_size, weight_decay)
    for x, y in stepper.epoch(rng):        # one epoch of minibatches, shuffled by rng
        loss, correct = stepper.step(x, y)  # gradients, then the update (none if not finite)

`make_stepper` is the one place that picks the path, once per run:

- `Accumulated`: a batch larger than `chunk` rows (full-batch gradient descent on 60k): the
  mean gradient is accumulated over chunks, then one update.
- `Gathered`: the fast path (mnist/nn/fast.py) gathers the rows itself and the optimizer takes
  its step on them (`opt.step_loaded`: fused into the backward pass for plain SGD).
- `Plain`: rows from `batches()`, augmented if asked, through the fast path's `__call__` when
  it supports the model, else `model.forward_backward`; then `opt.step()`.

Every path draws the same permutation from `rng` per epoch, so the minibatches are the same
whichever is taken. The learning rate is the optimizer's (`opt.lr`), read at each step.
"""

from __future__ import annotations

import math

import numpy as np

from mnist.data.dataset import Dataset, batches
from mnist.nn.fast import FastPath, forward_backward_for

ACCUM_CHUNK = 8192  # default rows per chunk of an accumulated batch: memory stays bounded
# A conv layer keeps k*k copies of its input per row for backward: a conv net's batches are
# accumulated in chunks whose training buffers stay under this many bytes.
TRAIN_BYTES = 256 * 1024 * 1024


class Plain:
    """Minibatches of float rows from `batches()`; x is (b, 784) float32 in [0, 1]."""

    def __init__(self, forward_backward, opt, data: Dataset, batch_size: int,
                 weight_decay: float, augment=None, aug_rng=None):
        self.forward_backward, self.opt, self.data = forward_backward, opt, data
        self.B, self.wd = batch_size, weight_decay
        self.augment, self.aug_rng = augment, aug_rng

    def epoch(self, rng):
        return batches(self.data, self.B, rng)

    def step(self, x, y):
        if self.augment is not None:
            x = self.augment(x, self.aug_rng)
        loss, correct = self.forward_backward(x, y, self.wd)
        if math.isfinite(loss):
            self.opt.step()
        return loss, correct


class Gathered:
    """The fast path's own batches: x is (row indices, the labels' positions in its logits
    buffer), both cut from arrays made once per epoch."""

    def __init__(self, fast: FastPath, opt, data: Dataset, weight_decay: float):
        self.fast, self.opt, self.wd = fast, opt, weight_decay
        self.flat, self.labels = data.flat, data.labels.astype(np.int64)  # once per run

    def epoch(self, rng):
        n, B = len(self.labels), self.fast.B
        order = rng.permutation(n)  # the very order batches() would draw
        y_epoch = self.labels.take(order)
        at_epoch = self.fast.label_positions(y_epoch)
        return (((order[i:i + B], at_epoch[i:i + B]), y_epoch[i:i + B])
                for i in range(0, n, B))

    def step(self, x, y):
        idx, at = x
        self.fast.load(self.flat, idx)
        return self.opt.step_loaded(self.fast, y, self.wd, at)


class Accumulated:
    """A batch too big to hold at once: x is the batch's row indices, processed in chunks of
    `chunk` rows whose gradients are averaged before one update."""

    def __init__(self, model, opt, data: Dataset, batch_size: int, weight_decay: float,
                 chunk: int, augment=None, aug_rng=None):
        self.model, self.opt, self.data = model, opt, data
        self.B, self.wd, self.chunk = batch_size, weight_decay, chunk
        self.augment, self.aug_rng = augment, aug_rng
        self.forward_backward = forward_backward_for(model, chunk)
        self.accum = [np.zeros_like(p) for p, _ in model.params()]

    def epoch(self, rng):
        n, B = len(self.data), self.B
        order = np.arange(n) if B >= n else rng.permutation(n)
        return ((order[i:i + B], self.data.labels[order[i:i + B]]) for i in range(0, n, B))

    def step(self, idx, y):
        model, ds, n = self.model, self.data, len(idx)
        pairs = list(model.params())
        for a in self.accum:
            a[...] = 0
        total_loss, correct = 0.0, 0
        for x, yc in batches(ds.take(idx) if n < len(ds) else ds, self.chunk):
            if self.augment is not None:
                x = self.augment(x, self.aug_rng)
            loss, c = self.forward_backward(x, yc, 0.0)
            weight = len(yc) / n
            total_loss += loss * weight
            correct += c
            w = model.dtype.type(weight)
            for a, (_, g) in zip(self.accum, pairs):
                a += w * g
        for a, (_, g) in zip(self.accum, pairs):
            g[...] = a
        if self.wd:
            total_loss += model.weight_decay(self.wd)
        if math.isfinite(total_loss):
            self.opt.step()
        return total_loss, correct


def make_stepper(model, opt, data: Dataset, batch_size: int, weight_decay: float = 0.0,
                 augment=None, aug_rng=None, chunk: int = ACCUM_CHUNK):
    """The stepper for this run (see the module docstring); `batch_size` is already capped at
    len(data)."""
    chunk = min(chunk, model.rows_within(TRAIN_BYTES, training=True))  # MLPs: no cap
    if batch_size > chunk:
        return Accumulated(model, opt, data, batch_size, weight_decay, chunk, augment, aug_rng)
    # Gathering folds the pixels' / 255 into the first product: bit for bit the data layer's
    # float32 pixel, but in float64 more precise than it, so float64 keeps to batches().
    if augment is None and model.dtype == np.float32 and FastPath.supports(model):
        return Gathered(FastPath(model, batch_size), opt, data, weight_decay)
    return Plain(forward_backward_for(model, batch_size), opt, data, batch_size, weight_decay,
                 augment, aug_rng)
