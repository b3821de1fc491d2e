"""The network: a stack of layers from a layer spec; the MLP is the spec of Dense sizes alone.

    x (B, 784) -> Dense -> act -> [dropout] -> Dense -> act -> ... -> Dense -> out (B, 10)
    x (B, 784) -> (B, 1, 28, 28) -> Conv2D -> act -> MaxPool2D -> ... -> Flatten -> Dense ... -> out

The output layer has no activation: for `loss="cross_entropy"` the outputs are logits and the
softmax lives in the loss (so log-sum-exp keeps it stable); for `loss="mse"` they are a linear
output compared with the one-hot target. Whatever its layers, a model takes (N, 784) pixels and
gives (N, 10) outputs; a conv net reshapes the rows to images itself.

`forward_backward(x, y)` is the hot path of training: one forward pass that keeps what backward
needs, the loss, one backward pass that fills every layer's gradients in place (a faster
implementation, mnist/nn/fast.py, can replace it). Everything else is inference, which keeps
nothing on the layers: the bundled model answers every session at once. `forward(x, trace=[])`
also records each layer's input and output (pre- and post-activations), and `input_grad`
backpropagates through such a record to the pixels (saliency) without touching the layers.

Nothing here knows the layer types beyond building them (mnist/nn/spec.py) and the order
passes run them in (`run_order`: one swap, one fusion): parameters, state_dict, gradients and
weight decay go through the layer protocol (mnist/nn/layers.py `Layer`).
"""

from __future__ import annotations

import math

import numpy as np

from mnist.nn.layers import INITS, Activation, Dense
from mnist.nn.activations import ACTIVATIONS
from mnist.nn.losses import LOSSES
from mnist.nn.conv import Conv2D
from mnist.nn.convpool import PooledConv
from mnist.nn.pool import MaxPool2D
from mnist.nn.spec import IMAGE, N_CLASSES, build_layers, canonical, dense_units, is_dense, \
    layer_shapes, working_floats

EVAL_CHUNK = 1000  # rows per forward pass at evaluation: bounded memory for any N
# A conv layer holds k*k copies of its input (the patches): chunks of a conv net are cut so
# that one layer's pass stays under these many bytes.
EVAL_BYTES = 64 * 1024 * 1024
DTYPES = {"float32": np.float32, "float64": np.float64}


class Network:
    """Any network a layer spec describes (mnist/nn/spec.py), e.g. "conv16k5-pool-128".

    `seed` (int or np.random.Generator) draws the initial weights and, unless training passes
    its own generator, the dropout masks. `dtype` is "float32" (fast) or "float64" (gradient
    checks). `input_shape` is what the first layer sees: (1, 28, 28) for a conv net (the
    (N, 784) rows reshaped), flattened for a spec of Dense layers alone. Use
    `build_network` to get an `MLP` for such a spec.
    """

    def __init__(self, spec: str = "128-64", activation: str = "relu", init: str = "he",
                 seed=0, dropout: float = 0.0, loss: str = "cross_entropy",
                 dtype: str = "float32", input_shape=IMAGE, n_classes: int = N_CLASSES):
        for what, value, known in (("activation", activation, ACTIVATIONS), ("init", init, INITS),
                                   ("loss", loss, LOSSES), ("dtype", str(dtype), DTYPES)):
            if value not in known:
                raise ValueError(f"unknown {what} {value!r} (known: {', '.join(known)})")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        input_shape = tuple(int(s) for s in input_shape)
        if is_dense(spec):
            input_shape = (math.prod(input_shape),)
        self.spec = canonical(spec)
        self.input_shape = input_shape
        self.n_inputs = math.prod(input_shape)
        self.n_classes = int(n_classes)
        self.activation = activation
        self.init = init
        self.dropout = float(dropout)
        self.loss = loss
        self.dtype = np.dtype(DTYPES[str(dtype)])
        self.loss_fn = LOSSES[loss]
        self.meta: dict = {}
        rng = np.random.default_rng(seed)
        self.layers = build_layers(self.spec, input_shape, self.n_classes, activation, init,
                                   self.dropout, rng, self.dtype)
        self.layers[0].need_dx = False
        _pack(self.layers, self.dtype)
        self._decay_tmp = None  # scratch for weight decay's gradient, made on first use
        self.chunk_rows = min(EVAL_CHUNK, self.rows_within(EVAL_BYTES))  # rows per inference pass

    # ---------------------------------------------------------------------------- description
    def __repr__(self) -> str:
        return (f"Network({self.spec!r}, activation={self.activation!r}, loss={self.loss!r}, "
                f"dtype={self.dtype.name})")

    @property
    def kind(self) -> str:
        """"mlp" (Dense layers only) or "cnn" (conv or pool layers first)."""
        return "mlp" if is_dense(self.spec) else "cnn"

    @property
    def dense(self) -> list[Dense]:
        """The Dense layers, input to output."""
        return [layer for layer in self.layers if isinstance(layer, Dense)]

    @property
    def n_params(self) -> int:
        return sum(p.size for p, _ in self.params())

    def layer_shapes(self):
        """Each layer's (name, output shape, parameters), as `mnist.nn.spec.layer_shapes`."""
        return layer_shapes(self.spec, self.input_shape, self.n_classes)

    def rows_within(self, nbytes: int, training: bool = False) -> int:
        """How many rows a pass can take with its conv layers holding at most `nbytes` (in
        training every layer keeps its buffers, so they add up); no limit without convs."""
        floats = working_floats(self.spec, self.input_shape)
        per_image = (sum(floats) if training else max(floats, default=0)) * self.dtype.itemsize
        return max(1, nbytes // per_image) if per_image else 2**62

    def architecture(self) -> dict:
        """Plain values that rebuild this network (weights aside): `from_architecture`."""
        return dict(spec=self.spec, input_shape=list(self.input_shape),
                    n_classes=self.n_classes, activation=self.activation, init=self.init,
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
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ValueError(f"expected input of shape (N, {self.n_inputs}), got {x.shape}")
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return x.reshape(len(x), *self.input_shape)  # (B, 1, 28, 28) for a conv net

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
            for layer in run_order(self.layers):
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
        return delta.reshape(len(delta), self.n_inputs)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 10) (softmax of the outputs), in chunks of `chunk_rows`."""
        x = np.asarray(x)
        out = np.empty((len(x), self.n_classes), dtype=self.dtype)
        step = self.chunk_rows
        for start in range(0, len(x), step):
            chunk = self.forward(x[start:start + step])
            out[start:start + len(chunk)] = self.loss_fn.probs(chunk)
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted labels (N,) int64."""
        x = np.asarray(x)
        out = np.empty(len(x), dtype=np.int64)
        step = self.chunk_rows
        for start in range(0, len(x), step):
            out[start:start + step] = self.forward(x[start:start + step]).argmax(1)
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
        for layer in reversed(run_order(self.layers)):  # the order forward ran them
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


def _pack(layers: list, dtype) -> None:
    """Move every layer's `Wb` into one array and every `dWb` into another, in `params()`
    order: an optimizer then updates all parameters as one flat array (mnist/nn/optim.py
    `flat_views`), a few whole-array calls per step instead of a few per parameter."""
    owners = [layer for layer in layers if getattr(layer, "Wb", None) is not None]
    sizes = [layer.Wb.size for layer in owners]
    flat = np.empty(sum(sizes), dtype), np.zeros(sum(sizes), dtype)  # params, grads
    at = 0
    for layer, size in zip(owners, sizes):
        for name, block in zip(("Wb", "dWb"), flat):
            piece = block[at:at + size].reshape(layer.Wb.shape)
            piece[...] = getattr(layer, name)
            setattr(layer, name, piece)
        layer._views()  # W, b, dW, db: views of the moved arrays
        at += size


def run_order(layers: list) -> list:
    """The layers in the order a pass runs them: a ReLU right before a max pool runs after it,
    and a convolution then meeting its pool (and that ReLU) runs with them as one
    `PooledConv`.

    max(relu(z)) = relu(max(z)) exactly, and the gradients are the same (a window whose
    maximum is <= 0 passes back zeros either way), but a 2x2 pool leaves the ReLU a quarter
    of the numbers. The fused layers compute what the separate ones compute, faster
    (mnist/nn/convpool.py). Traces keep the layers' own order (feature maps after the
    activation).
    """
    order = list(layers)
    for i in range(len(order) - 1):
        if _is_relu(order[i]) and isinstance(order[i + 1], MaxPool2D):
            order[i], order[i + 1] = order[i + 1], order[i]
    i = 0
    while i < len(order) - 1:
        conv, pool = order[i], order[i + 1]
        if isinstance(conv, Conv2D) and isinstance(pool, MaxPool2D):
            relu = order[i + 2] if i + 2 < len(order) and _is_relu(order[i + 2]) else None
            order[i:i + (3 if relu else 2)] = [_pooled(conv, pool, relu)]
        i += 1
    return order


def _is_relu(layer) -> bool:
    return isinstance(layer, Activation) and layer.name == "relu"


def _pooled(conv: Conv2D, pool: MaxPool2D, relu) -> PooledConv:
    """The PooledConv of these layers, kept on the conv (it holds the training buffers)."""
    fused = conv.pooled
    if fused is None or fused.pool is not pool or fused.relu is not relu:
        fused = conv.pooled = PooledConv(conv, pool, relu)
    return fused


class MLP(Network):
    """A fully connected network `sizes = (784, h1, ..., 10)`: the Network of the spec
    "h1-h2-..." (same layers, same weights for the same seed)."""

    def __init__(self, sizes=(784, 128, 64, 10), activation: str = "relu", init: str = "he",
                 seed=0, dropout: float = 0.0, loss: str = "cross_entropy",
                 dtype: str = "float32"):
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must be at least (inputs, outputs), all positive: {sizes}")
        super().__init__("-".join(map(str, sizes[1:-1])), activation, init, seed, dropout, loss,
                         dtype, input_shape=(sizes[0],), n_classes=sizes[-1])
        self.sizes = sizes

    def __repr__(self) -> str:
        arch = "-".join(map(str, self.sizes))
        return (f"MLP({arch}, activation={self.activation!r}, loss={self.loss!r}, "
                f"dtype={self.dtype.name})")

    def architecture(self) -> dict:
        return dict(sizes=list(self.sizes), **super().architecture())


def build_network(spec: str, activation: str = "relu", init: str = "he", seed=0,
                  dropout: float = 0.0, loss: str = "cross_entropy", dtype: str = "float32",
                  input_shape=IMAGE, n_classes: int = N_CLASSES) -> Network:
    """The network of a spec: an `MLP` when it has Dense layers only, else a `Network`."""
    if is_dense(spec):
        sizes = (math.prod(input_shape), *dense_units(spec), n_classes)
        return MLP(sizes, activation, init, seed, dropout, loss, dtype)
    return Network(spec, activation, init, seed, dropout, loss, dtype, input_shape, n_classes)


def from_architecture(arch: dict, seed=0) -> Network:
    """The (untrained) network `model.architecture()` describes; also reads the older
    {"sizes": [...]} form of an MLP. KeyError / TypeError / ValueError on a bad one."""
    kw = dict(activation=arch["activation"], init=arch.get("init", "he"),
              dropout=arch.get("dropout", 0.0), loss=arch.get("loss", "cross_entropy"),
              dtype=arch.get("dtype", "float32"), seed=seed)
    if "spec" in arch:
        return build_network(arch["spec"], input_shape=tuple(arch.get("input_shape", IMAGE)),
                             n_classes=arch.get("n_classes", N_CLASSES), **kw)
    return MLP(arch["sizes"], **kw)
