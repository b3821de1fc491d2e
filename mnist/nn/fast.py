"""The fast path: the same forward and backward pass as `MLP.forward_backward`, tuned.

For small nets (784-128-64-10) everything around the matrix products matters, so `FastPath`
computes exactly what the plain layers compute (tests/nn/test_fast.py checks outputs,
gradients and trajectories) with:

- every buffer preallocated and cut once per batch size (`_Views`): a NumPy call right after
  a big product costs several times its warm cost, so fewer calls is most of the game;
- its own gather (`load`): uint8 rows cast as they are, the / 255 folded into the first
  product's alpha;
- biases folded into the products: inputs carry a column of ones (255s for the raw pixels)
  and Dense keeps `Wb = [W; b]`, so `[a, 1] @ Wb` is `a @ W + b` and one product gives
  [dW; db];
- class-major logits (10, B): the softmax reduces along long contiguous rows; the gradient
  is 1/B subtracted at the labels' flat positions (no one-hot);
- plain SGD's step fused into the backward pass (`loaded(..., lr=)`, which `SGD.step_loaded`
  calls): `Wb = -lr [a, 1].T @ delta + Wb` is one BLAS call per layer; dW is never written.

`fb(x, y, wd)` fills the model's own dW/db (any optimizer works unchanged); `fb.load(...)` +
`fb.loaded(y, wd)` does the same on a batch it gathered. `FastPath.declines(model)` says
which models it cannot run (then the plain layers do).
"""

from __future__ import annotations

import math

import numpy as np

from mnist.constants import SCALE
from mnist.nn.blas import Gemm
from mnist.nn.layers import Activation, Dense, Dropout
from mnist.nn.model import MLP


class FastPath:
    """Forward + backward for one MLP at a fixed maximum batch size, with reused buffers.

    `fb = FastPath(model, batch_size)`; `loss, correct = fb(x, y, weight_decay)` fills the
    model's gradients exactly like `model.forward_backward(x, y, weight_decay)` does.
    """

    @staticmethod
    def declines(model: MLP) -> str | None:
        """Why the fast path cannot run `model`, or None when it can. It knows a stack of
        Dense layers with one activation between them and the two losses, nothing else."""
        kinds = [type(layer) for layer in model.layers]
        if Dropout in kinds:
            return "the fast path does not do dropout"
        if kinds != [Activation if i % 2 else Dense for i in range(len(kinds))] \
                or kinds[-1] is not Dense:
            others = sorted({k.__name__ for k in kinds} - {"Dense", "Activation"})
            return ("the fast path runs Dense layers with an activation between them only"
                    + (f", not {', '.join(others)}" if others else ""))
        if len({layer.name for layer in model.layers if isinstance(layer, Activation)}) > 1:
            return "the fast path needs the same activation in every hidden layer"
        if model.loss not in ("cross_entropy", "mse"):
            return f"the fast path has no {model.loss!r} loss"
        return None

    @classmethod
    def supports(cls, model: MLP) -> bool:
        return cls.declines(model) is None

    def __init__(self, model: MLP, batch_size: int):
        why = self.declines(model)
        if why is not None:
            raise ValueError(f"{why}; use model.forward_backward")
        self.model = model
        self.B = B = int(batch_size)
        self.dtype = dt = model.dtype
        self.dense = model.dense
        acts = [layer for layer in model.layers if isinstance(layer, Activation)]
        self.act = acts[0].name if acts else None
        self.f = acts[0].f if acts else None
        self.ce = model.loss == "cross_entropy"
        widths = [layer.W.shape[1] for layer in self.dense]
        n_classes = widths[-1]
        # hidden layer i's output a[i] and delta d[i] are (B, n_i + 1): a column of ones (of
        # zeros in d) lets elementwise work run over whole contiguous buffers; logits (10, B)
        self.a = [np.ones((B, n + 1), dtype=dt) for n in widths[:-1]]
        self.a.append(np.empty((n_classes, B), dtype=dt))
        self.d = [np.zeros((B, n + 1), dtype=dt) for n in widths[:-1]]
        self.d.append(np.empty((n_classes, B), dtype=dt))
        self.zeros = [np.zeros((B, n + 1), dtype=dt) for n in widths[:-1]]
        self.on = [np.empty((B, n + 1), dtype=dt) for n in widths[:-1]]  # ReLU's [a > 0]
        self.col_max = np.empty(B, dtype=dt)
        self.col_sum = np.empty(B, dtype=dt)
        self.picked = np.empty(B, dtype=dt)
        self.per_digit = np.empty(B, dtype=dt)
        self.cols = np.arange(B)
        self.label_at = np.empty(B, dtype=np.intp)  # flat positions of the labels in d[-1]
        self.ones = np.ones(B, dtype=dt)
        self.x = None  # the loaded batch (load()): raw 0..255 pixels + a column of 255s
        self.u8 = None
        self._gemms = None
        self._views = {}  # batch size -> _Views

    # ------------------------------------------------------------------------------ data
    def load(self, images: np.ndarray, idx: np.ndarray) -> int:
        """Gather rows `idx` of `images` (uint8, (N, 784)) as this step's batch; returns b.

        The rows are only cast (0..255): the / 255 happens in the first layer's products, and
        the extra column holds 255, which the same / 255 turns into the bias's 1.
        """
        v = self._views_for(len(idx))
        if self.x is None:
            n_in = images.shape[1]
            self.x = np.full((self.B, n_in + 1), 1 / SCALE, dtype=self.dtype)
            self.u8 = np.empty((self.B, n_in), dtype=images.dtype)
        if v.x is None:
            v.x, v.pixels, v.u8 = self.x[:v.b], self.x[:v.b, :-1], self.u8[:v.b]
        # the method with out= and mode="clip" is NumPy's fast gather (mode="raise" copies
        # through a temporary); the indices come from a permutation, so nothing is clipped
        images.take(idx, axis=0, out=v.u8, mode="clip")
        np.copyto(v.pixels, v.u8)
        return v.b

    def _bind(self):
        """The BLAS calls (mnist/nn/blas.py) for a loaded batch, bound to the weights and
        buffers: the first layer's forward product and each layer's update, whole (`Wb`) or
        split in W and b (weight decay spares the bias)."""
        x, dense = self.x, self.dense
        fwd0 = None
        if len(dense) > 1:  # z = s * [x, 255] @ Wb, into the first hidden buffer
            fwd0 = Gemm(x, dense[0].Wb, self.a[0][:, :-1])
        updates = []
        ones = self.ones[:, None]  # (B, 1)
        for i, layer in enumerate(dense):
            below = x if i == 0 else self.a[i - 1]  # (B, n_in + 1)
            delta = self.d[i][:, :-1] if i < len(dense) - 1 else self.d[i].T  # (B, n_out)
            updates.append((
                Gemm(below.T, delta, layer.Wb),  # Wb = alpha [a, 1].T @ delta + Wb
                Gemm(below[:, :-1].T, delta, layer.W),  # W = alpha a.T @ delta + beta W
                Gemm(delta.T, ones, layer.b[:, None]),  # b = alpha sum(delta) + b
            ))
        self._gemms = (fwd0, updates, [layer.Wb for layer in dense])

    def _bound(self):
        gemms = self._gemms
        if gemms is None or any(Wb is not layer.Wb for Wb, layer in zip(gemms[2], self.dense)):
            self._bind()  # first use, or the model's arrays were replaced (stale pointers)
        return self._gemms

    def _views_for(self, b: int) -> "_Views":
        """Every buffer cut to a batch of b rows, once per batch size (slicing ~30 views per
        step costs microseconds; the last batch is the only other size)."""
        v = self._views.get(b)
        if v is None:
            if b > self.B:
                raise ValueError(f"batch of {b} rows is larger than this FastPath's {self.B}")
            if b < 1:
                raise ValueError("empty batch")
            v = self._views[b] = _Views(self, b)
        return v

    # ------------------------------------------------------------------------------ forward
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits (b, 10) of `x` (a view of the class-major buffer), keeping every layer's
        activation for backward."""
        v = self._views_for(len(x))
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return self._forward(x, v, False).T

    def _forward(self, x: np.ndarray, v: "_Views", loaded: bool) -> np.ndarray:
        """Class-major logits (10, b). `loaded`: x is load()'s batch (raw pixels and a column
        of 255s, scaled by 1/255 in the first product); else x is (b, 784) as given."""
        h = x
        last = len(self.dense) - 1
        for i, layer in enumerate(self.dense):
            if i == last:
                zT = v.zT  # (10, b)
                if i == 0 and not loaded:  # no hidden layer, a given x
                    np.matmul(layer.W.T, h.T, out=zT)
                    zT += layer.b[:, None]
                else:
                    np.matmul(layer.Wb.T, h.T, out=zT)  # [h, 1] @ Wb, class-major
                    if i == 0:
                        zT *= SCALE  # a net without hidden layers, on a loaded batch
                return zT
            z = v.z[i]  # (b, n_i), left of the ones column
            if i == 0 and loaded:
                self._gemms[0](SCALE, 0.0, v.b)  # z = [x, 255] @ Wb / 255, one BLAS call
            elif i == 0:
                np.matmul(h, layer.W, out=z)
                z += layer.b
            else:
                np.matmul(h, layer.Wb, out=z)  # [h, 1] @ Wb = h @ W + b
            h = v.h[i]  # with its ones column, for the next layer
            if self.act == "relu":
                np.maximum(h, v.zeros[i], out=h)  # the whole buffer: relu(1) = 1
            else:
                self.f.forward(z)  # in place, on the strided view

    # ------------------------------------------------------------------------------ loss
    def label_positions(self, y: np.ndarray) -> np.ndarray:
        """Where each label of an epoch's labels `y` (cut into batches of B in order) sits in
        the flat class-major (10, B) buffer: `y[j] * B + j % B`. Once per epoch instead of
        per batch (`loaded(label_at=)`)."""
        return y * self.B + np.arange(len(y)) % self.B

    def _cross_entropy(self, zT: np.ndarray, y: np.ndarray, v: "_Views",
                       at: np.ndarray | None = None, mean: bool = True) -> tuple[float, int]:
        """(mean softmax cross-entropy, number correct) of the class-major logits zT (10, b);
        writes dL/dz into the delta buffer: softmax / b - onehot / b, or with `mean=False`
        softmax - onehot (the fused step puts the 1 / b into its BLAS alpha instead)."""
        b, dT, m, s, picked, flat = v.b, v.dT, v.m, v.s, v.picked, v.flat
        if at is None:  # flat positions of (y[j], j) in the (10, B) buffer
            at = v.at
            np.multiply(y, self.B, out=at)
            at += v.cols
        # ufunc.reduce(out=) has a fraction of np.max/np.sum's overhead
        np.maximum.reduce(zT, axis=0, out=m)
        np.subtract(zT, m, out=dT)  # shifted logits, max 0 per column
        flat.take(at, out=picked, mode="clip")  # the shifted logit of the right class
        correct = self._correct(zT, dT, picked, y)
        np.exp(dT, out=dT)
        np.add.reduce(dT, axis=0, out=s)  # >= 1
        per_digit = v.per_digit  # log(sum exp) - shifted logit of the label
        np.log(s, out=per_digit)
        per_digit -= picked
        loss = float(np.add.reduce(per_digit)) / b
        if mean:
            s *= b
        np.divide(dT, s, out=dT)
        np.subtract.at(flat, at, dT.dtype.type(1.0 / b if mean else 1.0))  # - onehot (/ b)
        return loss, correct

    @staticmethod
    def _correct(zT, shifted, picked, y) -> int:
        """How many columns have their label as argmax (the first maximum, as np.argmax):
        the label's shifted logit is 0 exactly when it is a maximum; only a column with two
        maxima needs the plain argmax to break the tie."""
        if np.count_nonzero(shifted == 0) == shifted.shape[1]:  # one maximum per column
            return int(np.count_nonzero(picked == 0))
        return int(np.count_nonzero(zT.argmax(axis=0) == y))

    def _mse(self, zT: np.ndarray, y: np.ndarray, v: "_Views") -> tuple[float, int]:
        b, dT = v.b, v.dT
        correct = int(np.count_nonzero(zT.argmax(axis=0) == y))
        np.copyto(dT, zT)
        dT[y, v.cols] -= 1
        loss = 0.5 * float(np.add.reduce(np.square(dT), axis=None)) / b
        dT *= dT.dtype.type(1.0 / b)
        return loss, correct

    # ------------------------------------------------------------------------------ all
    def __call__(self, x: np.ndarray, y: np.ndarray, weight_decay: float = 0.0):
        """(mean loss incl. 0.5 * wd * sum W^2, number correct); fills every dW, db."""
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return self._pass(x, y, weight_decay, False, None)

    def loaded(self, y: np.ndarray, weight_decay: float = 0.0, lr: float | None = None,
               label_at: np.ndarray | None = None):
        """The same on the batch `load()` gathered. With `lr`, one plain SGD step instead
        (`W -= lr * (dW + wd * W)`, `b -= lr * db`, fused; dW/db are not filled), skipped if
        the loss is not finite. `label_at`: this batch's slice of `label_positions(...)`."""
        if self.x is None:
            raise ValueError("no batch loaded: call load() first")
        updates = self._bound()[1]
        return self._pass(self._views_for(len(y)).x, y, weight_decay, True,
                          updates if lr else None, lr, label_at)

    def _pass(self, x, y, wd, loaded, updates, lr=None, label_at=None):
        v = self._views_for(len(x))
        b = v.b
        zT = self._forward(x, v, loaded)
        summed = updates is not None and self.ce  # delta without the 1 / b (fused SGD)
        if self.ce:
            loss, correct = self._cross_entropy(zT, y, v, label_at, mean=not summed)
        else:
            loss, correct = self._mse(zT, y, v)
        if wd:  # the penalty now: a fused step changes the weights on the way back
            loss += self.model.weight_decay(wd, grads=False)
        if updates is not None and not math.isfinite(loss):
            return loss, correct  # a diverged step: leave the weights alone
        dt = self.dtype.type
        per = 1.0 / b if summed else 1.0  # the mean's 1 / b, if the loss left it to us
        last = len(self.dense) - 1
        for i in range(last, -1, -1):
            layer = self.dense[i]
            below = x if i == 0 else v.h[i - 1]  # (b, n_in [+ 1 column of ones])
            delta = v.delta[i]  # (b, n_out)
            if i > 0:  # the error for the layer below, with this layer's weights before update
                d_below = v.delta[i - 1]
                np.matmul(delta, layer.W.T, out=d_below)  # (b, n_in)
                if self.act == "relu":
                    # relu'(z) = [a > 0] as a float mask (faster than a bool one or
                    # copyto(where=)), over the whole buffers (spare column: 0 * 1 = 0)
                    on, d_all = v.on[i - 1], v.d_all[i - 1]
                    np.greater(below, v.zeros[i - 1], out=on)
                    np.multiply(d_all, on, out=d_all)
                else:
                    self.f.backward(d_below, below[:, :-1])  # in place
            scale = SCALE if i == 0 and loaded else 1.0  # the loaded x is 0..255
            if updates is None:  # the gradient, for any optimizer
                if i == 0 and not loaded:  # a given x has no column of ones
                    np.matmul(below.T, delta, out=layer.dW)  # (n_in, n_out)
                    if i == last:  # along contiguous rows of the class-major delta
                        np.add.reduce(v.dT, axis=1, out=layer.db)
                    else:
                        np.add.reduce(delta, axis=0, out=layer.db)
                else:
                    np.matmul(below.T, delta, out=layer.dWb)  # [dW; db] in one product
                    if scale != 1.0:
                        layer.dWb *= dt(scale)
            else:  # fused SGD: p = beta p + alpha g, one BLAS call (weight decay in beta)
                update_Wb, update_W, update_b = updates[i]
                if not wd:
                    update_Wb(-lr * scale * per, 1.0, None, b)
                else:
                    update_W(-lr * scale * per, 1.0 - lr * wd, None, b)
                    update_b(-lr * per, 1.0, None, b)
        if updates is None and wd:
            self.model.weight_decay(wd)  # its gradient; the penalty is in the loss already
        return loss, correct


class _Views:
    """FastPath's buffers cut to one batch size: hidden layer i's pre-activation `z[i]`
    (b, n_i), output with its ones column `h[i]` (b, n_i + 1), `zeros[i]`, `on[i]`,
    `d_all[i]` (b, n_i + 1); each layer's delta (b, n_out) `delta[i]` (the last one the
    transpose of the class-major `dT`); the logits `zT` (10, b); the softmax scratch."""

    def __init__(self, fp: FastPath, b: int):
        self.b = b
        hidden = range(len(fp.a) - 1)
        self.z = [fp.a[i][:b, :-1] for i in hidden]
        self.h = [fp.a[i][:b] for i in hidden]
        self.zeros = [fp.zeros[i][:b] for i in hidden]
        self.on = [fp.on[i][:b] for i in hidden]
        self.d_all = [fp.d[i][:b] for i in hidden]
        self.zT, self.dT = fp.a[-1][:, :b], fp.d[-1][:, :b]
        self.delta = [fp.d[i][:b, :-1] for i in hidden] + [self.dT.T]
        self.flat = fp.d[-1].ravel()  # a view: the buffer is contiguous
        self.m, self.s, self.picked = fp.col_max[:b], fp.col_sum[:b], fp.picked[:b]
        self.per_digit, self.at, self.cols = fp.per_digit[:b], fp.label_at[:b], fp.cols[:b]
        self.x = self.pixels = self.u8 = None  # the loaded batch's, made by load()


def forward_backward_for(model: MLP, batch_size: int):
    """The fastest correct `forward_backward(x, y, weight_decay)` for this model and batch."""
    if FastPath.supports(model):
        return FastPath(model, batch_size)
    return model.forward_backward
