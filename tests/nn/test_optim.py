"""One (or two) steps of each optimizer against numbers worked by hand; schedules."""

import math

import numpy as np
import pytest

from mnist.nn.optim import Adam, Momentum, RMSProp, SGD, make_optimizer, schedule_lr


def pair(g=(0.5, -1.0)):
    p = np.array([1.0, -2.0])
    return p, np.array(g, dtype=float)


def test_sgd_one_step():
    p, g = pair()
    SGD([(p, g)], lr=0.1).step()
    # p - 0.1 g = [1 - 0.05, -2 + 0.1]
    assert np.allclose(p, [0.95, -1.9], rtol=0, atol=1e-15)


def test_momentum_two_steps():
    p, g = pair()
    opt = Momentum([(p, g)], lr=0.1, momentum=0.9)
    opt.step()  # v = g = [0.5, -1];         p = [0.95, -1.9]
    assert np.allclose(p, [0.95, -1.9], rtol=0, atol=1e-15)
    opt.step()  # v = 0.9 v + g = [0.95, -1.9]; p -= 0.1 v -> [0.855, -1.71]
    assert np.allclose(p, [0.855, -1.71], rtol=0, atol=1e-15)


def test_nesterov_one_step():
    p, g = pair()
    Momentum([(p, g)], lr=0.1, momentum=0.9, nesterov=True).step()
    # v = g; update = g + 0.9 v = [0.95, -1.9]; p = [1 - 0.095, -2 + 0.19]
    assert np.allclose(p, [0.905, -1.81], rtol=0, atol=1e-15)


def test_rmsprop_one_step():
    p, g = pair()
    RMSProp([(p, g)], lr=0.01, rho=0.9, eps=1e-8).step()
    # s = 0.1 g^2 = [0.025, 0.1]; step = 0.01 g / sqrt(s) = [0.0316227766, -0.0316227766]
    # (eps = 1e-8 next to sqrt(s) ~ 0.16 moves the result by ~2e-9)
    assert np.allclose(p, [1 - 0.0316227766017, -2 + 0.0316227766017], rtol=0, atol=1e-8)
    assert not np.allclose(p, [1 - 0.0316, -2 + 0.0316], rtol=0, atol=1e-6)


def test_adam_two_steps_with_bias_correction():
    p, g = pair()
    opt = Adam([(p, g)], lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8)
    opt.step()
    # m = 0.1 g = [0.05, -0.1], v = 0.001 g^2 = [0.00025, 0.001]
    # m_hat = m / 0.1 = g, v_hat = v / 0.001 = g^2: step = lr * g / (|g| + eps) = lr * sign(g)
    assert np.allclose(p, [0.99900000002, -1.99900000001], rtol=0, atol=1e-12)
    g[:] = [0.1, 0.2]
    opt.step()
    # m = 0.9 [0.05, -0.1] + 0.1 [0.1, 0.2] = [0.055, -0.07]
    # v = 0.999 [0.00025, 0.001] + 0.001 [0.01, 0.04] = [0.00025975, 0.001039]
    # m_hat = m / 0.19 = [0.2894736842, -0.3684210526]
    # v_hat = v / 0.001999 = [0.1299399700, 0.5197598799]; sqrt = [0.3604718713, 0.7209437426]
    # step = 0.001 m_hat / sqrt(v_hat) = [0.00080304096, -0.00051102607]
    assert np.allclose(p, [0.99819695906, -1.99848897394], rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "rmsprop", "adam"])
def test_every_optimizer_descends_a_quadratic_in_float32(name):
    p = np.array([3.0, -2.0], dtype=np.float32)
    g = np.zeros_like(p)
    opt = make_optimizer(name, [(p, g)], lr=0.05)
    for _ in range(300):
        g[:] = p  # gradient of |p|^2 / 2
        opt.step()
    assert p.dtype == np.float32 and np.abs(p).max() < 0.2


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        make_optimizer("lbfgs", [], 0.1)


def test_schedules():
    assert schedule_lr(3.7, 0.1, "constant", 10) == 0.1
    assert schedule_lr(4.9, 0.1, "step", 10, step_size=5, gamma=0.5) == 0.1
    assert schedule_lr(5.0, 0.1, "step", 10, step_size=5, gamma=0.5) == pytest.approx(0.05)
    assert schedule_lr(0.0, 0.1, "cosine", 10) == pytest.approx(0.1)
    assert schedule_lr(5.0, 0.1, "cosine", 10) == pytest.approx(0.05)
    assert schedule_lr(10.0, 0.1, "cosine", 10, min_lr=0.01) == pytest.approx(0.01)
    # warm-up: linear up to lr over 2 epochs, then the cosine runs over the remaining 8
    assert schedule_lr(1.0, 0.1, "cosine", 10, warmup_epochs=2) == pytest.approx(0.05)
    assert schedule_lr(2.0, 0.1, "cosine", 10, warmup_epochs=2) == pytest.approx(0.1)
    assert schedule_lr(6.0, 0.1, "cosine", 10, warmup_epochs=2) == pytest.approx(0.05)
    assert 0 < schedule_lr(0.0, 0.1, "constant", 10, warmup_epochs=1) <= 1e-3 * 0.1 + 1e-15
    assert math.isclose(schedule_lr(7, 0.2, "step", 10, step_size=3, gamma=0.1), 0.002)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_step_loaded_is_the_same_step_as_gradients_then_step(name):
    """An optimizer's step on a batch the fast path gathered (fused into the backward pass
    for SGD) lands where gradients + step() land; a non-finite loss moves nothing."""
    import copy

    from mnist.constants import SCALE
    from mnist.nn.fast import FastPath
    from mnist.nn.model import MLP

    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (64, 784), dtype=np.uint8), rng.integers(0, 10, 64)
    plain = MLP((784, 16, 10), seed=1)
    fused = copy.deepcopy(plain)
    opt_p = make_optimizer(name, plain.params(), 0.05)
    opt_f = make_optimizer(name, fused.params(), 0.05)
    fb = FastPath(fused, 32)
    for step in range(4):
        idx = np.arange(step * 16, step * 16 + 32) % 64
        plain.forward_backward((images[idx] * SCALE).astype(np.float32), labels[idx], 1e-3)
        opt_p.step()
        fb.load(images, idx)
        opt_f.step_loaded(fb, labels[idx], 1e-3)
    assert opt_f.t == opt_p.t == 4
    for (p, _), (q, _) in zip(plain.params(), fused.params()):
        np.testing.assert_allclose(q, p, rtol=1e-4, atol=1e-6)
    fused.dense[1].W[0, 0] = np.nan
    before = fused.state_dict()
    with np.errstate(invalid="ignore"):
        loss, _ = opt_f.step_loaded(fb, labels[idx], 0.0)
    assert not np.isfinite(loss) and opt_f.t == 4
    for k, v in fused.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "rmsprop", "adam"])
@pytest.mark.parametrize("spec", ["conv4k3-pool-8", "16-8"])
def test_flat_update_is_the_per_parameter_update_bit_for_bit(name, spec):
    """A Network packs its parameters in one array (and gradients in another), so the
    optimizer steps them as two flat arrays; copies of the same arrays, not packed, take the
    per-parameter path: after several steps from the same gradients the two agree exactly."""
    import copy

    from mnist.nn.model import build_network

    rng = np.random.default_rng(0)
    packed = build_network(spec, seed=3)
    loose = copy.deepcopy(packed)  # each array copied on its own: no longer one block
    opt_packed = make_optimizer(name, packed.params(), 0.01)
    opt_loose = make_optimizer(name, loose.params(), 0.01)
    assert opt_packed.flat is not None and opt_loose.flat is None
    assert opt_packed.flat[0].size == packed.n_params
    for _ in range(5):
        for (_, g), (_, h) in zip(packed.params(), loose.params()):
            g[...] = rng.standard_normal(g.shape)
            h[...] = g
        opt_packed.step()
        opt_loose.step()
    changed = False
    for (p, _), (q, _), (p0, _) in zip(packed.params(), loose.params(),
                                       build_network(spec, seed=3).params()):
        np.testing.assert_array_equal(p, q)
        changed |= not np.array_equal(p, p0)
    assert changed


def test_flat_views_refuses_pieces_that_do_not_tile_one_block():
    from mnist.nn.optim import flat_views

    P, G = np.zeros(10), np.zeros(10)
    pieces = [(P[:4], G[:4]), (P[4:].reshape(2, 3), G[4:].reshape(2, 3))]
    flat = flat_views(pieces)
    assert flat is not None and flat[0].size == 10 and np.shares_memory(flat[0], P)
    assert flat_views([(P[:4], G[:4]), (P[5:], G[5:])]) is None  # a hole
    assert flat_views([(P[4:], G[4:]), (P[:4], G[:4])]) is None  # out of order
    assert flat_views([(P[::2], G[::2])]) is None  # not dense
    assert flat_views([(P[:4], G[:4]), (P[4:].reshape(2, 3), G[4:].reshape(3, 2).T)]) is None
    assert flat_views([(np.zeros(3), np.zeros(3)), (np.zeros(2), np.zeros(2))]) is None
