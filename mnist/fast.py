"""The fast path: the same forward and backward pass as `MLP.forward_backward`, tuned.

For the small nets of MNIST Lab (784-128-64-10) the matrix products are cheap enough that
everything around them matters: every temporary array NumPy allocates, every `np.sum` with its
microseconds of Python-level overhead, every one-hot matrix. `FastPath` computes exactly what
the plain layers compute (tests/test_fast.py checks outputs, gradients and whole training
trajectories against them) but

- allocates nothing per batch: activations, deltas and softmax scratch are preallocated for
  the batch size (a smaller last batch uses the first rows of each buffer);
- uses `ufunc.reduce(..., out=)` instead of `np.max`/`np.sum` (a fraction of the overhead);
- applies ReLU as `np.maximum(z, zeros, out=z)` against a preallocated zeros array (a Python
  scalar 0 is slower on NumPy 2.4) and its derivative as a float 0/1 mask;
- gets the softmax/cross-entropy gradient by subtracting 1 at the label positions (no one-hot);
- writes the gradients straight into the layers' own `dW`/`db`, so the optimizers, the model's
  `params()` and `state_dict()` work unchanged.

What it does not handle (dropout) goes through the plain layers: `FastPath.supports(model)`.
"""

from __future__ import annotations

import numpy as np

from mnist.model import MLP


class FastPath:
    """Forward + backward for one MLP at a fixed maximum batch size, with reused buffers.

    `fb = FastPath(model, batch_size)`; `loss, correct = fb(x, y, weight_decay)` fills the
    model's gradients exactly like `model.forward_backward(x, y, weight_decay)` does.
    """

    @staticmethod
    def supports(model: MLP) -> bool:
        return model.dropout == 0.0

    def __init__(self, model: MLP, batch_size: int):
        if not self.supports(model):
            raise ValueError("the fast path does not do dropout; use model.forward_backward")
        self.model = model
        self.B = int(batch_size)
        dt = model.dtype
        self.dense = model.dense
        self.act = model.activation
        self.f = model.layers[1].f if len(model.dense) > 1 else None
        self.ce = model.loss == "cross_entropy"
        widths = model.sizes[1:]
        # a[i]: output of layer i (after its activation for hidden layers), (B, n_i)
        self.a = [np.empty((self.B, n), dtype=dt) for n in widths]
        # d[i]: dLoss/d(pre-activation of layer i), (B, n_i)
        self.d = [np.empty((self.B, n), dtype=dt) for n in widths]
        self.zeros = [np.zeros((self.B, n), dtype=dt) for n in widths[:-1]]
        self.on = [np.empty((self.B, n), dtype=dt) for n in widths[:-1]]  # ReLU's [a > 0]
        self.row_max = np.empty(self.B, dtype=dt)
        self.row_sum = np.empty(self.B, dtype=dt)
        self.picked = np.empty(self.B, dtype=dt)
        self.rows = np.arange(self.B)
        self.wd_tmp = [np.empty_like(layer.W) for layer in self.dense]

    # ------------------------------------------------------------------------------ forward
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Raw outputs (b, 10), keeping every layer's activation for backward."""
        b = len(x)
        h = x
        last = len(self.dense) - 1
        for i, layer in enumerate(self.dense):
            z = self.a[i][:b]
            np.matmul(h, layer.W, out=z)  # (b, n_i)
            z += layer.b
            if i < last:
                if self.act == "relu":
                    np.maximum(z, self.zeros[i][:b], out=z)
                else:
                    self.f.forward(z)  # in place
            h = z
        return h

    # ------------------------------------------------------------------------------ loss
    def _cross_entropy(self, out: np.ndarray, y: np.ndarray, delta: np.ndarray) -> float:
        """Mean softmax cross-entropy of `out`; writes dL/dout into `delta` (both (b, 10))."""
        b = len(y)
        rows = self.rows[:b]
        m = self.row_max[:b]
        s = self.row_sum[:b]
        np.maximum.reduce(out, axis=1, out=m)
        np.subtract(out, m[:, None], out=delta)  # shifted logits, max 0 per row
        np.take(delta.ravel(), rows * delta.shape[1] + y, out=self.picked[:b])
        np.exp(delta, out=delta)
        np.add.reduce(delta, axis=1, out=s)  # >= 1
        loss = float(np.add.reduce(np.log(s)) - np.add.reduce(self.picked[:b])) / b
        s *= b  # delta = softmax / b - onehot / b, the mean gradient
        np.divide(delta, s[:, None], out=delta)
        delta[rows, y] -= delta.dtype.type(1.0 / b)
        return loss

    def _mse(self, out: np.ndarray, y: np.ndarray, delta: np.ndarray) -> float:
        b = len(y)
        np.copyto(delta, out)
        delta[self.rows[:b], y] -= 1
        loss = 0.5 * float(np.vdot(delta, delta)) / b
        delta *= delta.dtype.type(1.0 / b)
        return loss

    # ------------------------------------------------------------------------------ all
    def __call__(self, x: np.ndarray, y: np.ndarray, weight_decay: float = 0.0):
        """(mean loss incl. 0.5 * wd * sum W^2, number correct); fills every dW, db."""
        b = len(x)
        if b > self.B:
            raise ValueError(f"batch of {b} rows is larger than this FastPath's {self.B}")
        if x.dtype != self.model.dtype:
            x = x.astype(self.model.dtype)
        out = self.forward(x)
        correct = int(np.count_nonzero(out.argmax(1) == y))
        last = len(self.dense) - 1
        delta = self.d[last][:b]
        loss = (self._cross_entropy if self.ce else self._mse)(out, y, delta)
        for i in range(last, -1, -1):
            layer = self.dense[i]
            below = x if i == 0 else self.a[i - 1][:b]
            np.matmul(below.T, delta, out=layer.dW)  # (n_in, n_out)
            np.add.reduce(delta, axis=0, out=layer.db)
            if i == 0:
                break
            d_below = self.d[i - 1][:b]
            np.matmul(delta, layer.W.T, out=d_below)  # dL/d(a_{i-1}), (b, n_{i-1})
            if self.act == "relu":
                # relu'(z) = [a > 0], as 0./1. floats: a float mask multiplies faster than a
                # bool one, and np.copyto(where=) is ten times slower than either here
                on = self.on[i - 1][:b]
                np.greater(below, self.zeros[i - 1][:b], out=on)
                np.multiply(d_below, on, out=d_below)
            else:
                self.f.backward(d_below, below)  # in place
            delta = d_below
        if weight_decay:
            wd = self.model.dtype.type(weight_decay)
            for layer, tmp in zip(self.dense, self.wd_tmp):
                loss += 0.5 * weight_decay * float(np.vdot(layer.W, layer.W))
                np.multiply(layer.W, wd, out=tmp)
                layer.dW += tmp
        return loss, correct


def forward_backward_for(model: MLP, batch_size: int):
    """The fastest correct `forward_backward(x, y, weight_decay)` for this model and batch."""
    if FastPath.supports(model):
        return FastPath(model, batch_size)
    return model.forward_backward
