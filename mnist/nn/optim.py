"""Optimizers and learning-rate schedules, from scratch.

An optimizer is built on the `(param, grad)` pairs of a model (`model.params()`), keeps only its
own state (velocities, moment estimates), and `step()` updates every parameter in place from
the gradients the last backward pass left in the grad arrays. `opt.lr` is the one learning
rate of a run: schedules set it there, between steps.

`step_loaded(fast, y, weight_decay)` is one whole step on a batch the fast path
(mnist/nn/fast.py) has gathered: its gradients, then `step()`. Plain SGD's update is linear in
the gradient, so SGD instead has the fast path apply it inside the product that makes the
gradient (one BLAS call per layer, the gradient never written): its own way of stepping.

The update rules, exactly (g = gradient, t = step number starting at 1):
- sgd:       p -= lr * g
- momentum:  v = mu * v + g;            p -= lr * v               (PyTorch's form)
- nesterov:  v = mu * v + g;            p -= lr * (g + mu * v)
- rmsprop:   s = rho * s + (1-rho) g^2; p -= lr * g / (sqrt(s) + eps)
- adam:      m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
             p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)   (Kingma & Ba)
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.array_utils import byte_bounds


def flat_views(pairs) -> tuple[np.ndarray, np.ndarray] | None:
    """(P, G): 1-D views covering every param and every grad of `pairs`, when the params
    are consecutive dense pieces of one array and the grads likewise, each grad laid out as
    its param (so P[i] and G[i] are a param and its own gradient); else None."""
    if not pairs:
        return None
    ends = [None, None]
    for p, g in pairs:
        if not (isinstance(p, np.ndarray) and isinstance(g, np.ndarray)) \
                or p.dtype != pairs[0][0].dtype or g.dtype != p.dtype \
                or p.shape != g.shape or p.strides != g.strides:
            return None
        for side, a in enumerate((p, g)):
            lo, hi = byte_bounds(a)
            if hi - lo != a.nbytes or (ends[side] is not None and lo != ends[side]):
                return None  # holes inside, or not right after the previous piece
            ends[side] = hi
    views = []
    for a in pairs[0]:
        root = a
        while isinstance(root.base, np.ndarray):
            root = root.base
        if root.dtype != a.dtype or not (root.flags.c_contiguous and root.flags.writeable):
            return None
        start = (byte_bounds(a)[0] - byte_bounds(root)[0]) // a.itemsize
        views.append(root.reshape(-1)[start:start + sum(p.size for p, _ in pairs)])
    P, G = views
    if byte_bounds(P)[1] != ends[0] or byte_bounds(G)[1] != ends[1]:
        return None  # the pieces run outside the array the first one is cut from
    return P, G


class Optimizer:
    def __init__(self, params, lr: float):
        self.pairs = list(params)  # [(param, grad), ...]
        self.flat = flat_views(self.pairs)
        # what the update runs over: the two flat arrays, or each pair; state follows it
        self.units = [self.flat] if self.flat is not None else self.pairs
        self.lr = float(lr)
        self.t = 0  # steps taken

    def step(self) -> None:
        self.t += 1
        for i, (p, g) in enumerate(self.units):
            self._update(i, p, g)

    def step_loaded(self, fast, y, weight_decay: float = 0.0, label_at=None):
        """(loss, number correct) of a FastPath's loaded batch, after the update (none when
        the loss is not finite)."""
        loss, correct = fast.loaded(y, weight_decay, label_at=label_at)
        if math.isfinite(loss):
            self.step()
        return loss, correct

    def _update(self, i, p, g):  # pragma: no cover - abstract
        raise NotImplementedError


class SGD(Optimizer):
    """Plain gradient descent (full batch or minibatch)."""

    def __init__(self, params, lr: float):
        super().__init__(params, lr)
        self._tmp = [np.empty_like(p) for p, _ in self.units]  # no allocation per step

    def step_loaded(self, fast, y, weight_decay: float = 0.0, label_at=None):
        """Gradient and update fused in the fast path's backward pass (skipped by it when the
        loss is not finite)."""
        loss, correct = fast.loaded(y, weight_decay, lr=self.lr, label_at=label_at)
        if math.isfinite(loss):
            self.t += 1
        return loss, correct

    def _update(self, i, p, g):
        # two NumPy passes into a preallocated buffer (not scipy's axpy: a second OpenBLAS
        # whose threads would fight NumPy's)
        tmp = self._tmp[i]
        np.multiply(g, p.dtype.type(self.lr), out=tmp)
        p -= tmp


class Momentum(Optimizer):
    """Heavy-ball momentum; `nesterov=True` looks ahead along the velocity."""

    def __init__(self, params, lr: float, momentum: float = 0.9, nesterov: bool = False):
        super().__init__(params, lr)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.v = [np.zeros_like(p) for p, _ in self.units]

    def _update(self, i, p, g):
        v = self.v[i]
        mu = p.dtype.type(self.momentum)
        lr = p.dtype.type(self.lr)
        v *= mu
        v += g
        if self.nesterov:
            p -= lr * (g + mu * v)
        else:
            p -= lr * v


class RMSProp(Optimizer):
    """Divide each step by a running RMS of recent gradients (Hinton's lecture 6e)."""

    def __init__(self, params, lr: float, rho: float = 0.9, eps: float = 1e-8):
        super().__init__(params, lr)
        self.rho = float(rho)
        self.eps = float(eps)
        self.s = [np.zeros_like(p) for p, _ in self.units]
        self._tmp = [np.empty_like(p) for p, _ in self.units]

    def _update(self, i, p, g):
        s, tmp = self.s[i], self._tmp[i]
        rho = p.dtype.type(self.rho)
        s *= rho
        np.multiply(g, g, out=tmp)
        tmp *= 1 - rho
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += p.dtype.type(self.eps)
        np.divide(g, tmp, out=tmp)
        tmp *= p.dtype.type(self.lr)
        p -= tmp


class Adam(Optimizer):
    """Adaptive moments with bias correction (Kingma & Ba 2015, Algorithm 1)."""

    def __init__(self, params, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8):
        super().__init__(params, lr)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.m = [np.zeros_like(p) for p, _ in self.units]
        self.v = [np.zeros_like(p) for p, _ in self.units]
        self._tmp = [np.empty_like(p) for p, _ in self.units]

    def step(self) -> None:
        self.t += 1
        # the bias corrections are scalars: fold them into the step size and epsilon
        c1 = 1.0 - self.beta1 ** self.t
        c2 = 1.0 - self.beta2 ** self.t
        self._step_size = self.lr / c1
        self._sqrt_c2 = math.sqrt(c2)
        for i, (p, g) in enumerate(self.units):
            self._update(i, p, g)

    def _update(self, i, p, g):
        m, v, tmp = self.m[i], self.v[i], self._tmp[i]
        f = p.dtype.type
        b1, b2 = f(self.beta1), f(self.beta2)
        m *= b1
        m += (1 - b1) * g
        v *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - b2
        v += tmp
        # m_hat / (sqrt(v_hat) + eps) = (m / c1) / (sqrt(v) / sqrt(c2) + eps)
        np.sqrt(v, out=tmp)
        tmp /= f(self._sqrt_c2)
        tmp += f(self.eps)
        np.divide(m, tmp, out=tmp)
        tmp *= f(self._step_size)
        p -= tmp


OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam")


def make_optimizer(name: str, params, lr: float, momentum: float = 0.9, beta1: float = 0.9,
                   beta2: float = 0.999, rho: float = 0.9, eps: float = 1e-8) -> Optimizer:
    """An optimizer by name over `params` ((param, grad) pairs)."""
    if name == "sgd":
        return SGD(params, lr)
    if name in ("momentum", "nesterov"):
        return Momentum(params, lr, momentum, nesterov=name == "nesterov")
    if name == "rmsprop":
        return RMSProp(params, lr, rho, eps)
    if name == "adam":
        return Adam(params, lr, beta1, beta2, eps)
    raise ValueError(f"unknown optimizer {name!r} (known: {', '.join(OPTIMIZERS)})")


# --------------------------------------------------------------------------------------------
# Learning-rate schedules: lr as a function of the (fractional) epoch

SCHEDULES = ("constant", "step", "cosine")


def schedule_lr(epoch: float, lr: float, schedule: str = "constant", epochs: int = 1,
                warmup_epochs: float = 0.0, step_size: int = 10, gamma: float = 0.1,
                min_lr: float = 0.0) -> float:
    """Learning rate at `epoch` (0 = start of training, fractional within an epoch).

    - constant: lr
    - step:     lr * gamma ** floor(epoch / step_size)
    - cosine:   min_lr + (lr - min_lr) * (1 + cos(pi * progress)) / 2, progress from 0 to 1
                over the epochs after warm-up
    Warm-up (any schedule): linear from ~0 (lr / 1000 at the very first step) up to lr over
    `warmup_epochs`; the schedule proper then runs on.
    """
    if warmup_epochs > 0 and epoch < warmup_epochs:
        return lr * max(epoch / warmup_epochs, 1e-3)
    if schedule == "constant":
        return lr
    if schedule == "step":
        return lr * gamma ** math.floor(epoch / step_size)
    if schedule == "cosine":
        span = max(epochs - warmup_epochs, 1e-12)
        progress = min(max((epoch - warmup_epochs) / span, 0.0), 1.0)
        return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {schedule!r} (known: {', '.join(SCHEDULES)})")
