"""Central finite differences for the gradient tests (float64 only)."""

import numpy as np


def numeric_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d f() / d x by central differences, perturbing `x` in place one entry at a time."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|a| + |b|): scale-free, robust to tiny entries."""
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a) + np.abs(b)), 1e-12))


def network_grad_errors(net, x: np.ndarray, y: np.ndarray, wd: float = 0.0) -> dict:
    """{parameter name: rel_error} of a network's backprop gradients (with L2 weight decay `wd`
    on its weight matrices and kernels, not its biases) against central differences."""
    _, grads = net.loss_and_grads(x, y, weight_decay=wd)
    grads = {k: v.copy() for k, v in grads.items()}
    params = {name: p for name, p, _ in net.named_params()}

    def loss_fn():
        value, _ = net.loss_fn.loss_and_delta(net.forward(x), y)
        return value + 0.5 * wd * sum(np.sum(p ** 2) for p in params.values() if p.ndim > 1)

    return {name: rel_error(grads[name], numeric_grad(loss_fn, p)) for name, p in params.items()}
