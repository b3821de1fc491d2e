"""Layers: Dense (weights), Activation, Dropout, by name in `LAYERS`; initialisations by name.

A layer is a small object (see `Layer`) with `forward(x, training)` and `backward(delta)`. A
layer with parameters owns them and their gradients (`W, b, dW, db`) and `params()` yields the
`(param, grad)` pairs that an optimizer updates in place. Rows are samples: `x` is (B, n_in),
`W` is (n_in, n_out), `z = x @ W + b` is (B, n_out).

Backward is the chain rule one layer at a time: given delta = dL/d(output) it fills the
layer's gradients and returns dL/d(input) for the layer below. What backward needs is kept
only by a training forward (`training=True`): inference writes nothing to the layer, so one
model can answer several threads at once.
"""

from __future__ import annotations

import numpy as np

from mnist.nn.activations import ACTIVATIONS


# --------------------------------------------------------------------------------------------
# Initialisations: (n_in, n_out, rng) -> (W, b) in float64 (cast by the layer)


def init_uniform(n_in, n_out, rng):
    """U(-0.5, 0.5) for weights and biases: the legacy global `rand(...) - 0.5` of two tutorials."""
    return rng.random((n_in, n_out)) - 0.5, rng.random(n_out) - 0.5


def init_normal001(n_in, n_out, rng):
    """N(0, 0.01^2) weights, zero biases: small enough that a deep ReLU net starts almost
    silent (the reason lr 0.001 'barely moves' in the tutorial)."""
    return rng.normal(0.0, 0.01, (n_in, n_out)), np.zeros(n_out)


def init_xavier(n_in, n_out, rng):
    """Glorot uniform: U(-l, l), l = sqrt(6 / (n_in + n_out)), keeps variance for tanh/sigmoid."""
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, (n_in, n_out)), np.zeros(n_out)


def init_he(n_in, n_out, rng):
    """He normal: N(0, 2 / n_in), keeps variance through ReLUs (half the units are off)."""
    return rng.normal(0.0, np.sqrt(2.0 / n_in), (n_in, n_out)), np.zeros(n_out)


INITS = {
    "uniform": init_uniform,
    "normal001": init_normal001,
    "xavier": init_xavier,
    "he": init_he,
}


# --------------------------------------------------------------------------------------------
# Layers


def _view(name: str) -> property:
    """A layer attribute that is a fixed view of its storage: reading gives the view,
    assigning copies the value into it (`layer.W = W2` never swaps the array)."""

    def get(self):
        return getattr(self, name)

    def set(self, value):
        getattr(self, name)[...] = value

    return property(get, set)


class Layer:
    """What the network (mnist/nn/model.py) asks of a layer; a new layer type is a class like
    this and an entry in `LAYERS`, nothing else.

    - `forward(x, training=False)`: the output. Only with `training=True` does the layer keep
      what its backward needs (and draw dropout masks); inference stores nothing on it.
    - `backward(delta)`: from dL/d(output), fill the parameters' gradients (from what the last
      training forward kept) and return dL/d(input), or None when `need_dx` is False.
    - `input_grad(delta, x, out)`: dL/d(input) for one forward call given its input and output,
      touching nothing on the layer (saliency: gradients with respect to the pixels).
    - `params()`: (param, grad) pairs; a layer with parameters yields its weights, then its
      bias (state_dict keys "i.W", "i.b"). Weight decay applies to the weights only.
    """

    need_dx = True  # the first layer skips dL/dx: nobody needs the input's gradient

    def params(self):
        return iter(())

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, delta: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def input_grad(self, delta: np.ndarray, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _buffer(buf, shape, dtype) -> np.ndarray:
    """`buf` if it has this shape and dtype, else a new array: a training output kept from one
    batch to the next (a fresh large array each step is fresh memory from the system, whose
    first touch costs more than filling it)."""
    if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
        buf = np.empty(shape, dtype)
    return buf


def _kept(value, layer):
    if value is None:
        raise RuntimeError(f"{type(layer).__name__}.backward needs a forward(x, training=True) "
                           "first")
    return value


class Dense(Layer):
    """z = x @ W + b.

    W and b live in one array, `Wb = [W; b]` of shape (n_in + 1, n_out) (and dW, db in
    `dWb`): `W`, `b`, `dW`, `db` are views of them. To the maths nothing changes; but the
    bias is then one more row of weights, so the fast path (mnist/nn/fast.py) computes
    `[x, 1] @ Wb` and updates W and b together in a single matrix product. Assigning to
    `layer.W` (or b, dW, db) copies into the array; the views themselves never change.
    """

    def __init__(self, n_in: int, n_out: int, init: str = "he", rng=None, dtype=np.float32):
        rng = np.random.default_rng(rng)
        W, b = INITS[init](n_in, n_out, rng)
        self.Wb = np.empty((n_in + 1, n_out), dtype=dtype)  # [W; b]
        self.Wb[:-1] = W
        self.Wb[-1] = b
        self.dWb = np.zeros_like(self.Wb)  # [dW; db]
        self._views()
        self.x = None  # input kept by a training forward (a reference, not a copy)
        self._dx = None  # backward's dL/dx buffer
        self.need_dx = True

    def _views(self):
        self._W, self._b = self.Wb[:-1], self.Wb[-1]  # (n_in, n_out), (n_out,)
        self._dW, self._db = self.dWb[:-1], self.dWb[-1]

    # the views, fixed for the layer's life (optimizers hold on to them); assignment copies in
    W = _view("_W")
    b = _view("_b")
    dW = _view("_dW")
    db = _view("_db")

    def __getstate__(self):  # copy/deepcopy/pickle keep Wb; the views are rebuilt on it
        state = self.__dict__.copy()
        for k in ("_W", "_b", "_dW", "_db"):
            del state[k]
        state["_dx"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._views()

    def params(self):
        yield self.W, self.dW
        yield self.b, self.db

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if training:
            self.x = x
        z = x @ self.W  # (B, n_out)
        z += self.b
        return z

    def backward(self, delta: np.ndarray) -> np.ndarray | None:
        # dW = x^T delta, db = sum over the batch of delta, dx = delta W^T
        x, self.x = _kept(self.x, self), None
        np.matmul(x.T, delta, out=self.dW)
        np.sum(delta, axis=0, out=self.db)
        if not self.need_dx:
            return None
        # into a buffer kept between batches (784 inputs at batch 128: 0.34 ms, 0.44 fresh)
        self._dx = _buffer(self._dx, (len(delta), len(self.W)), np.result_type(delta, self.W))
        return np.matmul(delta, self.W.T, out=self._dx)

    def input_grad(self, delta, x=None, out=None):
        return delta @ self.W.T  # (B, n_in)


class Activation(Layer):
    """a = f(z), elementwise, in place on z; a training forward keeps `a` (the derivative is
    a function of `a`, mnist/nn/activations.py)."""

    def __init__(self, name: str):
        self.name = name
        self.f = ACTIVATIONS[name]
        self.a = None

    def forward(self, z: np.ndarray, training: bool = False) -> np.ndarray:
        a = self.f.forward(z)  # in place on z
        if training:
            self.a = a
        return a

    def backward(self, delta: np.ndarray) -> np.ndarray:
        a, self.a = _kept(self.a, self), None
        return self.f.backward(delta, a)  # in place on delta

    def input_grad(self, delta, x, out):
        return self.f.backward(delta, out)


class Dropout(Layer):
    """Inverted dropout: in training keep each unit with probability q = 1 - p and scale the
    survivors by 1/q, so the expected activation is unchanged and evaluation needs nothing."""

    def __init__(self, p: float, rng=None):
        self.p = float(p)
        self.rng = np.random.default_rng(rng)  # the model's set_rng() gives the run's own
        self.mask = None

    def forward(self, a: np.ndarray, training: bool = False) -> np.ndarray:
        if not training or self.p <= 0.0:
            return a
        q = 1.0 - self.p
        mask = self.rng.random(a.shape, dtype=np.float64 if a.dtype == np.float64 else np.float32)
        self.mask = (mask < q) * a.dtype.type(1.0 / q)  # (B, n) of 0 or 1/q
        # a new array: the Activation below keeps `a` for its own backward
        return a * self.mask

    def backward(self, delta: np.ndarray) -> np.ndarray:
        if self.mask is not None:
            delta *= self.mask
            self.mask = None
        return delta

    def input_grad(self, delta, x, out):
        return delta  # evaluation: the identity


LAYERS = {"dense": Dense, "activation": Activation, "dropout": Dropout}
