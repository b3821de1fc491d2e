"""Activation functions, by name.

Each activation is applied *in place* on the pre-activation `z` (the Dense layer's fresh
output, which nobody else needs) and its derivative is written in terms of the output `a`
alone. That is true for all four: relu'(z) = [a > 0], leaky'(z) = 1 or alpha by the sign of a,
sigmoid'(z) = a (1 - a), tanh'(z) = 1 - a^2. So a layer keeps one array, not two.

`ACTIVATIONS[name]` is an object with `forward(z) -> a` (may overwrite z) and
`backward(delta, a) -> delta * f'(z)` (may overwrite delta): configs stay plain strings.
"""

from __future__ import annotations

import numpy as np

LEAKY_SLOPE = 0.01


class ReLU:
    name = "relu"

    @staticmethod
    def forward(z: np.ndarray) -> np.ndarray:
        return np.maximum(z, 0, out=z)

    @staticmethod
    def backward(delta: np.ndarray, a: np.ndarray) -> np.ndarray:
        return np.multiply(delta, a > 0, out=delta)


class LeakyReLU:
    """max(z, 0.01 z): a small slope for z < 0 so a unit that is off still learns."""

    name = "leaky_relu"

    @staticmethod
    def forward(z: np.ndarray) -> np.ndarray:
        return np.maximum(z, z * z.dtype.type(LEAKY_SLOPE), out=z)

    @staticmethod
    def backward(delta: np.ndarray, a: np.ndarray) -> np.ndarray:
        slope = np.where(a > 0, a.dtype.type(1), a.dtype.type(LEAKY_SLOPE))
        return np.multiply(delta, slope, out=delta)


class Sigmoid:
    name = "sigmoid"

    @staticmethod
    def forward(z: np.ndarray) -> np.ndarray:
        # 1 / (1 + exp(-z)); exp overflows to inf for z << 0, which correctly gives 0.
        with np.errstate(over="ignore"):
            np.negative(z, out=z)
            np.exp(z, out=z)
        z += 1
        return np.reciprocal(z, out=z)

    @staticmethod
    def backward(delta: np.ndarray, a: np.ndarray) -> np.ndarray:
        delta *= a
        delta *= 1 - a
        return delta


class Tanh:
    name = "tanh"

    @staticmethod
    def forward(z: np.ndarray) -> np.ndarray:
        return np.tanh(z, out=z)

    @staticmethod
    def backward(delta: np.ndarray, a: np.ndarray) -> np.ndarray:
        delta *= 1 - a * a
        return delta


ACTIVATIONS = {f.name: f for f in (ReLU, LeakyReLU, Sigmoid, Tanh)}
