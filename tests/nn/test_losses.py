"""Losses: values against direct formulas, gradients against central differences."""

import numpy as np
import pytest

from mnist.nn.losses import LOSSES, softmax
from tests.gradcheck import numeric_grad, rel_error


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradient(name):
    rng = np.random.default_rng(0)
    out = rng.normal(0, 3, (6, 10))
    y = rng.integers(0, 10, 6)
    loss_fn = LOSSES[name]
    _, delta = loss_fn.loss_and_delta(out, y)
    numeric = numeric_grad(lambda: loss_fn.loss_and_delta(out, y)[0], out)
    assert rel_error(delta, numeric) < 1e-6


def test_cross_entropy_value_matches_the_definition():
    rng = np.random.default_rng(1)
    out = rng.normal(size=(5, 10))
    y = rng.integers(0, 10, 5)
    p = np.exp(out) / np.exp(out).sum(1, keepdims=True)
    expected = -np.mean(np.log(p[np.arange(5), y]))
    assert LOSSES["cross_entropy"].loss_and_delta(out, y)[0] == pytest.approx(expected, 1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    out = np.array([[1000.0, 0.0, -1000.0] + [0.0] * 7], dtype=np.float32)
    loss, delta = LOSSES["cross_entropy"].loss_and_delta(out, np.array([2]))
    assert loss == pytest.approx(2000.0) and np.all(np.isfinite(delta))
    assert np.all(np.isfinite(softmax(out)))


def test_mse_value_matches_the_definition():
    rng = np.random.default_rng(2)
    out = rng.normal(size=(4, 10))
    y = np.array([3, 1, 4, 1])
    onehot = np.eye(10)[y]
    expected = 0.5 * np.sum((out - onehot) ** 2) / 4
    assert LOSSES["mse"].loss_and_delta(out, y)[0] == pytest.approx(expected, 1e-12)


def test_loss_does_not_touch_its_input_unless_asked():
    out = np.arange(20.0).reshape(2, 10)
    before = out.copy()
    for f in LOSSES.values():
        f.loss_and_delta(out, np.array([0, 9]))
    assert np.array_equal(out, before)
