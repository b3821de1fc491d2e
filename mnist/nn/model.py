"""The multi-layer perceptron: a stack of Dense layers with activations (and dropout) between.

    x (B, 784) -> Dense -> act -> [dropout] -> Dense -> act -> ... -> Dense -> out (B, 10)

The output layer has no activation: for `loss="cross_entropy"` the outputs are logits and the
softmax lives in the loss (so log-sum-exp keeps it stable); for `loss="mse"` they are a linear
output compared with the one-hot target.

`forward_backward(x, y)` is the hot path of training: one forward pass that keeps what backward
needs, the loss, one backward pass that fills every layer's gradients in place. A faster
implementation can replace it (and the optimizer's `step`) without touching the rest.
"""

from __future__ import annotations

import numpy as np

from mnist.nn.layers import INITS, Activation, Dense, Dropout
from mnist.nn.activations import ACTIVATIONS
from mnist.nn.losses import LOSSES

EVAL_CHUNK = 1000  # rows per forward pass at evaluation: bounded memory for any N
DTYPES = {"float32": np.float32, "float64": np.float64}


class MLP:
    """A fully connected network `sizes = (784, h1, ..., 10)`.

    `seed` (int or np.random.Generator) draws the initial weights and, unless training passes
    its own generator, the dropout masks. `dtype` is "float32" (fast) or "float64" (gradient
    checks).
    """

    def __init__(self, sizes=(784, 128, 64, 10), activation: str = "relu", init: str = "he",
                 seed=0, dropout: float = 0.0, loss: str = "cross_entropy",
                 dtype: str = "float32"):
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must be at least (inputs, outputs), all positive: {sizes}")
        for what, value, known in (("activation", activation, ACTIVATIONS), ("init", init, INITS),
                                   ("loss", loss, LOSSES), ("dtype", str(dtype), DTYPES)):
            if value not in known:
                raise ValueError(f"unknown {what} {value!r} (known: {', '.join(known)})")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.sizes = sizes
        self.activation = activation
        self.init = init
        self.dropout = float(dropout)
        self.loss = loss
        self.dtype = np.dtype(DTYPES[str(dtype)])
        self.loss_fn = LOSSES[loss]
        self.meta: dict = {}
        rng = np.random.default_rng(seed)
        self.layers = []
        self.dense: list[Dense] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layer = Dense(n_in, n_out, init, rng, self.dtype)
            self.layers.append(layer)
            self.dense.append(layer)
            if i < len(sizes) - 2:  # hidden layer
                self.layers.append(Activation(activation))
                if self.dropout > 0:
                    self.layers.append(Dropout(self.dropout, rng))
        self.dense[0].need_dx = False

    # ---------------------------------------------------------------------------- description
    def __repr__(self) -> str:
        arch = "-".join(map(str, self.sizes))
        return (f"MLP({arch}, activation={self.activation!r}, loss={self.loss!r}, "
                f"dtype={self.dtype.name})")

    @property
    def n_params(self) -> int:
        return sum(p.size for p, _ in self.params())

    def architecture(self) -> dict:
        """Plain values that rebuild this network (weights aside)."""
        return dict(sizes=list(self.sizes), activation=self.activation, init=self.init,
                    dropout=self.dropout, loss=self.loss, dtype=self.dtype.name)

    def params(self):
        """(param, grad) pairs, in state_dict order."""
        for layer in self.dense:
            yield from layer.params()

    def set_rng(self, rng: np.random.Generator) -> None:
        """Draw dropout masks from `rng` (training passes its single generator)."""
        for layer in self.layers:
            if isinstance(layer, Dropout):
                layer.rng = rng

    # ---------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, np.ndarray]:
        """{"0.W": (784, h1), "0.b": (h1,), "1.W": ...}: copies, safe to keep."""
        out = {}
        for i, layer in enumerate(self.dense):
            out[f"{i}.W"] = layer.W.copy()
            out[f"{i}.b"] = layer.b.copy()
        return out

    def _expected_shapes(self) -> dict[str, tuple]:
        shapes = {}
        for i, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            shapes[f"{i}.W"] = (n_in, n_out)
            shapes[f"{i}.b"] = (n_out,)
        return shapes

    def load_state_dict(self, state: dict) -> None:
        """Copy arrays into the existing parameters (in place, so optimizers keep their hold).
        Names and shapes must match exactly; values must be finite."""
        expected = self._expected_shapes()
        missing = [k for k in expected if k not in state]
        extra = [k for k in state if k not in expected]
        if missing or extra:
            raise ValueError(f"state_dict mismatch: missing {missing or 'none'}, "
                             f"unexpected {extra or 'none'}")
        arrays = {}
        for name, shape in expected.items():
            a = np.asarray(state[name])
            if a.shape != shape:
                raise ValueError(f"{name} has shape {a.shape}, expected {shape}")
            if a.dtype.kind != "f":
                raise ValueError(f"{name} has dtype {a.dtype}, expected floating point")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{name} contains NaN or infinite values")
            arrays[name] = a
        for i, layer in enumerate(self.dense):
            layer.W[...] = arrays[f"{i}.W"]
            layer.b[...] = arrays[f"{i}.b"]

    def grads(self) -> dict[str, np.ndarray]:
        """The gradients of the last backward pass, keyed like state_dict (views, not copies)."""
        out = {}
        for i, layer in enumerate(self.dense):
            out[f"{i}.W"] = layer.dW
            out[f"{i}.b"] = layer.db
        return out

    # ---------------------------------------------------------------------------- compute
    def _as_input(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"expected input of shape (N, {self.sizes[0]}), got {x.shape}")
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return x

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Raw outputs (B, 10): logits, or the linear output of an MSE net."""
        a = self._as_input(x)
        for layer in self.layers:
            a = layer.forward(a, training)
        return a

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 10) (softmax of the outputs), in chunks of EVAL_CHUNK rows."""
        x = np.asarray(x)
        out = np.empty((len(x), self.sizes[-1]), dtype=self.dtype)
        for start in range(0, len(x), EVAL_CHUNK):
            chunk = self.forward(x[start:start + EVAL_CHUNK])
            out[start:start + len(chunk)] = self.loss_fn.probs(chunk)
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted labels (N,) int64."""
        x = np.asarray(x)
        out = np.empty(len(x), dtype=np.int64)
        for start in range(0, len(x), EVAL_CHUNK):
            out[start:start + EVAL_CHUNK] = self.forward(x[start:start + EVAL_CHUNK]).argmax(1)
        return out

    def loss_on(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        """(mean loss, number correct) on one chunk, no gradients, no dropout."""
        out = self.forward(x)
        correct = int(np.count_nonzero(out.argmax(1) == y))
        loss, _ = self.loss_fn.loss_and_delta(out, y, overwrite=True)
        return loss, correct

    def forward_backward(self, x: np.ndarray, y: np.ndarray, weight_decay: float = 0.0,
                         training: bool = True) -> tuple[float, int]:
        """THE HOT PATH. Forward (keeping activations), loss, backward; fills every dW, db.

        Returns (mean loss including the L2 penalty 0.5 * wd * sum(W^2), number correct).
        Gradients are the mean over the batch.
        """
        out = self.forward(x, training)  # (B, 10)
        correct = int(np.count_nonzero(out.argmax(1) == y))
        loss, delta = self.loss_fn.loss_and_delta(out, y, overwrite=True)  # delta (B, 10)
        for layer in reversed(self.layers):
            delta = layer.backward(delta)
        if weight_decay:
            loss += self.add_weight_decay(weight_decay)
        return loss, correct

    def add_weight_decay(self, weight_decay: float) -> float:
        """Add wd * W to every dW (not to biases); return the penalty 0.5 * wd * sum(W^2)."""
        penalty = 0.0
        wd = self.dtype.type(weight_decay)
        for layer in self.dense:
            penalty += 0.5 * weight_decay * float(np.vdot(layer.W, layer.W))
            layer.dW += wd * layer.W
        return penalty

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, weight_decay: float = 0.0,
                       training: bool = False):
        """(loss, {name: gradient}) keyed like state_dict(). Dropout off unless training=True.
        The gradient arrays are the layers' own buffers: copy them to keep them."""
        loss, _ = self.forward_backward(x, np.asarray(y, dtype=np.int64), weight_decay, training)
        return loss, self.grads()
