"""Losses: softmax + cross-entropy, and linear output + mean squared error.

A loss takes the network's raw output `out` (B, 10) and integer labels `y` (B,) and returns
the mean loss over the batch and `delta = dLoss/dout` (B, 10). Labels stay integers: the
one-hot target is never built, we subtract 1 at `out[i, y[i]]` instead.

- `cross_entropy`: softmax then -log p[y]. Computed with log-sum-exp (shift by the row max) so
  exp never overflows; the famous simplification dL/dlogits = (probs - onehot) / B.
- `mse`: half the squared distance to the one-hot target, summed over the 10 outputs and
  averaged over the batch (Nielsen's quadratic cost): dL/dout = (out - onehot) / B.
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable (max-shifted). Returns a new array."""
    z = logits - logits.max(axis=1, keepdims=True)  # (B, 10)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class Loss:
    """`loss_and_delta(out, y, overwrite=False) -> (mean loss, dL/dout)`, and `probs(out)`,
    the class probabilities shown for an output: its softmax (for the linear output of `mse`
    not what the network was trained to give, but the same ranking)."""

    name = ""

    @staticmethod
    def probs(out: np.ndarray) -> np.ndarray:
        return softmax(out)


class CrossEntropy(Loss):
    name = "cross_entropy"

    @staticmethod
    def loss_and_delta(out: np.ndarray, y: np.ndarray, overwrite: bool = False):
        """Mean cross-entropy and dL/dlogits. `overwrite=True` reuses `out` for delta."""
        B = len(y)
        rows = np.arange(B)
        z = out if overwrite else out.copy()
        z -= z.max(axis=1, keepdims=True)  # shifted logits, max 0 per row
        picked = z[rows, y]  # (B,) shifted logit of the true class (a copy)
        np.exp(z, out=z)
        sums = z.sum(axis=1)  # (B,) >= 1, so the log is finite
        loss = float(np.mean(np.log(sums) - picked))
        z /= sums[:, None]  # probs
        z[rows, y] -= 1
        z /= B
        return loss, z


class MeanSquaredError(Loss):
    name = "mse"

    @staticmethod
    def loss_and_delta(out: np.ndarray, y: np.ndarray, overwrite: bool = False):
        B = len(y)
        diff = out if overwrite else out.copy()  # (B, 10) out - onehot
        diff[np.arange(B), y] -= 1
        loss = 0.5 * float(np.einsum("ij,ij->", diff, diff)) / B
        diff /= B
        return loss, diff


LOSSES = {f.name: f for f in (CrossEntropy, MeanSquaredError)}
