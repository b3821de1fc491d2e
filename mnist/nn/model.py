"""The multi-layer perceptron: a stack of Dense layers with activations (and dropout) between.

    x (B, 784) -> Dense -> act -> [dropout] -> Dense -> act -> ... -> Dense -> out (B, 10)

The output layer has no activation: for `loss="cross_entropy"` the outputs are logits and the
softmax lives in the loss (so log-sum-exp keeps it stable); for `loss="mse"` they are a linear
output compared with the one-hot target.

`forward_backward(x, y)` is the hot path of training: one forward pass that keeps what backward
needs, the loss, one backward pass that fills every layer's gradients in place (a faster
implementation, mnist/nn/fast.py, can replace it). Everything else is inference, which keeps
nothing on the layers: the bundled model answers every session at once. `forward(x, trace=[])`
also records each layer's input and output (pre- and post-activations), and `input_grad`
backpropagates through such a record to the pixels (saliency) without touching the layers.

Nothing here knows the layer types beyond building them: parameters, state_dict, gradients and
weight decay go through the layer protocol (mnist/nn/layers.py `Layer`).
"""

from __future__ import annotations

import numpy as np

from mnist.nn.layers import INITS, LAYERS, Dense
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
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            self.layers.append(LAYERS["dense"](n_in, n_out, init, rng, self.dtype))
            if i < len(sizes) - 2:  # hidden layer
                self.layers.append(LAYERS["activation"](activation))
                if self.dropout > 0:
                    self.layers.append(LAYERS["dropout"](self.dropout, rng))
        self.layers[0].need_dx = False
        self._decay_tmp = None  # scratch for weight decay's gradient, made on first use

    # ---------------------------------------------------------------------------- description
    def __repr__(self) -> str:
        arch = "-".join(map(str, self.sizes))
        return (f"MLP({arch}, activation={self.activation!r}, loss={self.loss!r}, "
                f"dtype={self.dtype.name})")

    @property
    def dense(self) -> list[Dense]:
        """The Dense layers, input to output."""
        return [layer for layer in self.layers if isinstance(layer, Dense)]

    @property
    def n_params(self) -> int:
        return sum(p.size for p, _ in self.params())

    def architecture(self) -> dict:
        """Plain values that rebuild this network (weights aside)."""
        return dict(sizes=list(self.sizes), activation=self.activation, init=self.init,
                    dropout=self.dropout, loss=self.loss, dtype=self.dtype.name)

    def params(self):
        """(param, grad) pairs, in state_dict order."""
        for layer in self.layers:
            yield from layer.params()

    def named_params(self):
        """("i.W", W, dW), ("i.b", b, db) for the i-th layer with parameters."""
        i = 0
        for layer in self.layers:
            pairs = list(layer.params())
            if not pairs:
                continue
            if len(pairs) != 2:
                raise ValueError(f"{type(layer).__name__}.params() must yield (W, dW) and "
                                 f"(b, db), got {len(pairs)} pairs")
            for name, (p, g) in zip("Wb", pairs):
                yield f"{i}.{name}", p, g
            i += 1

    def set_rng(self, rng: np.random.Generator) -> None:
        """Draw dropout masks from `rng` (training passes its single generator)."""
        for layer in self.layers:
            if hasattr(layer, "rng"):  # a layer that draws random numbers in training
                layer.rng = rng

    # ---------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, np.ndarray]:
        """{"0.W": (784, h1), "0.b": (h1,), "1.W": ...}: copies, safe to keep."""
        return {name: p.copy() for name, p, _ in self.named_params()}

    def _expected_shapes(self) -> dict[str, tuple]:
        return {name: p.shape for name, p, _ in self.named_params()}

    def load_state_dict(self, state: dict) -> None:
        """Copy arrays into the existing parameters (in place, so optimizers keep their hold).
        Names and shapes must match exactly; values must be finite."""
        params = {name: p for name, p, _ in self.named_params()}
        expected = {name: p.shape for name, p in params.items()}
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
        for name, p in params.items():
            p[...] = arrays[name]

    def grads(self) -> dict[str, np.ndarray]:
        """The gradients of the last backward pass, keyed like state_dict (views, not copies)."""
        return {name: g for name, _, g in self.named_params()}

    # ---------------------------------------------------------------------------- compute
    def _as_input(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"expected input of shape (N, {self.sizes[0]}), got {x.shape}")
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return x

    def forward(self, x: np.ndarray, training: bool = False, trace: list | None = None
                ) -> np.ndarray:
        """Raw outputs (B, 10): logits, or the linear output of an MSE net.

        `training=True` is the forward of a training step: the layers keep what backward
        needs and dropout is on. Otherwise nothing is written to the model (thread-safe).
        `trace`, a list, receives `(layer, input, output)` for every layer, as copies of the
        values (activations overwrite their input in place).
        """
        a = self._as_input(x)
        if trace is None:
            for layer in self.layers:
                a = layer.forward(a, training)
            return a
        below = a
        for layer in self.layers:
            a = layer.forward(a, training)
            out = a.copy()
            trace.append((layer, below, out))
            below = out
        return a

    def input_grad(self, trace: list, delta: np.ndarray) -> np.ndarray:
        """dL/d(input) (B, 784) from dL/d(output) (B, 10), back through a `forward(x,
        trace=...)` record; reads the weights, writes nothing on the model."""
        for layer, x, out in reversed(trace):
            delta = layer.input_grad(delta, x, out)
        return delta

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

    def forward_backward(self, x: np.ndarray, y: np.ndarray, weight_decay: float = 0.0
                         ) -> tuple[float, int]:
        """THE HOT PATH. Forward (keeping activations), loss, backward; fills every dW, db.

        Returns (mean loss including the L2 penalty 0.5 * wd * sum(W^2), number correct).
        Gradients are the mean over the batch.
        """
        out = self.forward(x, training=True)  # (B, 10)
        correct = int(np.count_nonzero(out.argmax(1) == y))
        loss, delta = self.loss_fn.loss_and_delta(out, y, overwrite=True)  # delta (B, 10)
        for layer in reversed(self.layers):
            delta = layer.backward(delta)
        if weight_decay:
            loss += self.weight_decay(weight_decay)
        return loss, correct

    def weight_decay(self, weight_decay: float, grads: bool = True) -> float:
        """L2 weight decay, for every path of training: returns the penalty
        0.5 * wd * sum(W^2) over the weights (not the biases) and, with `grads`, adds its
        gradient wd * W to every dW."""
        decayed = [(p, g) for p, g in self.params() if p.ndim > 1]  # weights, not biases
        penalty = 0.5 * weight_decay * sum(float(np.vdot(p, p)) for p, _ in decayed)
        if grads:
            tmps = self._decay_tmp
            if tmps is None or [t.shape for t in tmps] != [p.shape for p, _ in decayed]:
                tmps = self._decay_tmp = [np.empty_like(p) for p, _ in decayed]
            wd = self.dtype.type(weight_decay)
            for (p, g), tmp in zip(decayed, tmps):
                np.multiply(p, wd, out=tmp)
                g += tmp
        return penalty

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, weight_decay: float = 0.0):
        """(loss, {name: gradient}) keyed like state_dict(), from one training pass (dropout
        masks drawn, if the model has dropout). The gradient arrays are the layers' own
        buffers: copy them to keep them."""
        loss, _ = self.forward_backward(x, np.asarray(y, dtype=np.int64), weight_decay)
        return loss, self.grads()
