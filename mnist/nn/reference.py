"""A pure-Python reference network (no NumPy): 784-32-10 in plain loops, as one tutorial
builds it.

It is deliberately the slow, obvious version: every sum is a `for` loop over Python floats.
Two uses: the tests check the vectorised MLP's forward and backward pass against it on a few
samples (an independent oracle written without matrices), and the benchmark shows the speed
gap that vectorisation closes.

Parameters are nested lists laid out like the MLP's arrays: `W1[i][j]` connects input i to
hidden unit j (784 x 32), `W2[j][k]` hidden j to output k (32 x 10), `b1`, `b2` lists.
Supported: hidden activation "sigmoid" (the tutorial's) or "relu"; loss "mse" (linear output,
half squared error, the tutorial's) or "cross_entropy" (softmax). Both are averaged over the
samples, as in mnist.nn.losses.
"""

from __future__ import annotations

import math
import random


def init_params(sizes=(784, 32, 10), seed: int = 0) -> dict:
    """Xavier-uniform weights, zero biases, from a private random.Random(seed)."""
    n_in, n_hidden, n_out = sizes
    rnd = random.Random(seed)
    l1 = math.sqrt(6.0 / (n_in + n_hidden))
    l2 = math.sqrt(6.0 / (n_hidden + n_out))
    return dict(
        W1=[[rnd.uniform(-l1, l1) for _ in range(n_hidden)] for _ in range(n_in)],
        b1=[0.0] * n_hidden,
        W2=[[rnd.uniform(-l2, l2) for _ in range(n_out)] for _ in range(n_hidden)],
        b2=[0.0] * n_out,
    )


def _act(z: float, activation: str) -> float:
    if activation == "sigmoid":
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
    if activation == "relu":
        return z if z > 0 else 0.0
    raise ValueError(f"reference supports sigmoid and relu, not {activation!r}")


def _act_grad(a: float, activation: str) -> float:
    """f'(z) written with the output a = f(z)."""
    return a * (1.0 - a) if activation == "sigmoid" else (1.0 if a > 0 else 0.0)


def forward(params: dict, x: list, activation: str = "sigmoid") -> tuple[list, list]:
    """One sample (784 floats) -> (hidden activations (32), outputs (10))."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    hidden = []
    for j in range(len(b1)):
        z = b1[j]
        for i in range(len(x)):
            z += x[i] * W1[i][j]
        hidden.append(_act(z, activation))
    out = []
    for k in range(len(b2)):
        z = b2[k]
        for j in range(len(hidden)):
            z += hidden[j] * W2[j][k]
        out.append(z)
    return hidden, out


def _softmax(out: list) -> list:
    m = max(out)
    e = [math.exp(o - m) for o in out]
    s = sum(e)
    return [v / s for v in e]


def loss_and_grads(params: dict, xs: list, ys: list, activation: str = "sigmoid",
                   loss: str = "mse") -> tuple[float, dict]:
    """Mean loss over the samples and the gradient of every parameter (same nested layout)."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n_in, n_hidden, n_out = len(W1), len(b1), len(b2)
    dW1 = [[0.0] * n_hidden for _ in range(n_in)]
    db1 = [0.0] * n_hidden
    dW2 = [[0.0] * n_out for _ in range(n_hidden)]
    db2 = [0.0] * n_out
    total = 0.0
    n = len(xs)
    for x, y in zip(xs, ys):
        hidden, out = forward(params, x, activation)
        target = [1.0 if k == y else 0.0 for k in range(n_out)]
        if loss == "mse":
            total += 0.5 * sum((o - t) ** 2 for o, t in zip(out, target))
            delta_out = [(o - t) / n for o, t in zip(out, target)]
        elif loss == "cross_entropy":
            p = _softmax(out)
            total += -math.log(max(p[y], 1e-300))
            delta_out = [(pk - t) / n for pk, t in zip(p, target)]
        else:
            raise ValueError(f"reference supports mse and cross_entropy, not {loss!r}")
        delta_hidden = []
        for j in range(n_hidden):
            s = 0.0
            for k in range(n_out):
                dW2[j][k] += hidden[j] * delta_out[k]
                s += W2[j][k] * delta_out[k]
            delta_hidden.append(s * _act_grad(hidden[j], activation))
        for k in range(n_out):
            db2[k] += delta_out[k]
        for i in range(n_in):
            xi = x[i]
            if xi == 0.0:  # most MNIST pixels are blank: nothing to add
                continue
            row = dW1[i]
            for j in range(n_hidden):
                row[j] += xi * delta_hidden[j]
        for j in range(n_hidden):
            db1[j] += delta_hidden[j]
    return total / n, dict(W1=dW1, b1=db1, W2=dW2, b2=db2)


def sgd_step(params: dict, grads: dict, lr: float) -> None:
    """p -= lr * g for every parameter, in place."""
    for name in ("b1", "b2"):
        p, g = params[name], grads[name]
        for j in range(len(p)):
            p[j] -= lr * g[j]
    for name in ("W1", "W2"):
        for p_row, g_row in zip(params[name], grads[name]):
            for j in range(len(p_row)):
                p_row[j] -= lr * g_row[j]


def predict(params: dict, x: list, activation: str = "sigmoid") -> int:
    out = forward(params, x, activation)[1]
    return max(range(len(out)), key=out.__getitem__)


def train(params: dict, xs: list, ys: list, epochs: int, lr: float,
          activation: str = "sigmoid", loss: str = "mse"):
    """Full-batch gradient descent, the tutorial's loop: yields (epoch, loss) after each."""
    for epoch in range(1, epochs + 1):
        value, grads = loss_and_grads(params, xs, ys, activation, loss)
        sgd_step(params, grads, lr)
        yield epoch, value
