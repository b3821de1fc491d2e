"""The fast path computes what the plain layers compute: outputs, loss, gradients, trajectory."""

import copy

import numpy as np
import pytest

from mnist.constants import SCALE
from mnist.nn.fast import FastPath, forward_backward_for
from mnist.nn.model import MLP
from mnist.nn.optim import make_optimizer


def batch(b=37, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.random((b, 784)).astype(dtype)
    y = rng.integers(0, 10, b)
    return x, y


def plain_grads(model, x, y, wd):
    loss, correct = model.forward_backward(x, y, wd)
    return loss, correct, {k: v.copy() for k, v in model.grads().items()}


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_loss_and_gradients_as_plain(activation, loss, dtype):
    model = MLP((784, 48, 24, 10), activation=activation, loss=loss, seed=3, dtype=dtype)
    x, y = batch(dtype=np.dtype(dtype))
    wd = 1e-3
    loss_p, correct_p, g_plain = plain_grads(model, x, y, wd)
    fast = FastPath(model, 64)  # bigger than the batch: the buffers' first rows are used
    loss_f, correct_f = fast(x, y, wd)
    tol = 1e-5 if dtype == "float32" else 1e-12
    assert correct_f == correct_p
    assert loss_f == pytest.approx(loss_p, rel=tol)
    for name, g in model.grads().items():
        scale = np.abs(g_plain[name]).max() + 1e-30
        assert np.abs(g - g_plain[name]).max() / scale < 10 * tol, name
    np.testing.assert_allclose(fast.forward(x), model.forward(x), rtol=tol, atol=tol)


def test_single_hidden_layer_and_no_hidden_layer():
    for sizes in [(784, 32, 10), (784, 10)]:
        model = MLP(sizes, seed=1, dtype="float64")
        x, y = batch(16, dtype=np.float64)
        loss_p, _, g_plain = plain_grads(model, x, y, 0.0)
        loss_f, _ = FastPath(model, 16)(x, y)
        assert loss_f == pytest.approx(loss_p, rel=1e-12)
        for name, g in model.grads().items():
            np.testing.assert_allclose(g, g_plain[name], rtol=1e-10, atol=1e-14)


def test_same_training_trajectory_for_several_steps():
    """Twenty SGD-momentum steps with the fast path land where the plain path lands."""
    plain = MLP((784, 128, 64, 10), seed=7)
    fast_model = copy.deepcopy(plain)
    opt_p = make_optimizer("momentum", plain.params(), 0.05)
    opt_f = make_optimizer("momentum", fast_model.params(), 0.05)
    fb = FastPath(fast_model, 32)
    losses_p, losses_f = [], []
    for step in range(20):
        x, y = batch(32, seed=100 + step)
        losses_p.append(plain.forward_backward(x, y, 1e-4)[0])
        opt_p.step()
        losses_f.append(fb(x, y, 1e-4)[0])
        opt_f.step()
    np.testing.assert_allclose(losses_f, losses_p, rtol=2e-5)
    for (p, _), (q, _) in zip(plain.params(), fast_model.params()):
        np.testing.assert_allclose(q, p, rtol=1e-4, atol=1e-6)


def test_dropout_falls_back_to_plain_and_batch_limit():
    model = MLP((784, 16, 10), dropout=0.5)
    assert not FastPath.supports(model)
    assert forward_backward_for(model, 8) == model.forward_backward
    with pytest.raises(ValueError, match="dropout"):
        FastPath(model, 8)
    fb = FastPath(MLP((784, 16, 10)), 8)
    with pytest.raises(ValueError, match="larger"):
        fb(*batch(9))


# ------------------------------------------------------------------------------ loaded batches
def pixels(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 784), dtype=np.uint8), rng.integers(0, 10, n)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_loaded_batch_gives_the_plain_gradients_of_the_scaled_pixels(activation, loss):
    """load() keeps pixels as 0..255 and folds the / 255 into the first products."""
    images, labels = pixels()
    model = MLP((784, 48, 24, 10), activation=activation, loss=loss, seed=3)
    idx = np.random.default_rng(5).permutation(len(images))[:29]
    x = (images[idx] * SCALE).astype(np.float32)
    loss_p, correct_p, g_plain = plain_grads(model, x, labels[idx], 1e-3)
    fast = FastPath(model, 32)
    assert fast.load(images, idx) == 29
    loss_f, correct_f = fast.loaded(labels[idx], 1e-3)
    assert correct_f == correct_p
    assert loss_f == pytest.approx(loss_p, rel=1e-5)
    for name, g in model.grads().items():
        assert np.abs(g - g_plain[name]).max() / np.abs(g_plain[name]).max() < 1e-4, name


@pytest.mark.parametrize("no_blas", [False, True])
@pytest.mark.parametrize("sizes", [(784, 128, 64, 10), (784, 32, 10), (784, 10)])
def test_fused_sgd_steps_follow_plain_sgd(sizes, no_blas, monkeypatch):
    """loaded(lr=) updates the weights inside the backward pass (one BLAS call per layer,
    or NumPy without it): twenty steps, weight decay, a short last batch, same place."""
    if no_blas:
        monkeypatch.setenv("MNIST_NO_BLAS", "1")
    images, labels = pixels(500, seed=1)
    plain = MLP(sizes, seed=7)
    fused = copy.deepcopy(plain)
    opt = make_optimizer("sgd", plain.params(), 0.05)
    fb = FastPath(fused, 32)
    rng = np.random.default_rng(0)
    for step in range(20):
        idx = rng.permutation(len(images))[:32 if step % 5 else 17]
        x, y = (images[idx] * SCALE).astype(np.float32), labels[idx]
        loss_p, correct_p = plain.forward_backward(x, y, 1e-3)
        opt.lr = 0.05 * (1 - step / 40)  # a schedule: lr changes every step
        opt.step()
        fb.load(images, idx)
        loss_f, correct_f = fb.loaded(y, 1e-3, lr=opt.lr)
        assert correct_f == correct_p
        assert loss_f == pytest.approx(loss_p, rel=1e-5)
    for (p, _), (q, _) in zip(plain.params(), fused.params()):
        np.testing.assert_allclose(q, p, rtol=1e-4, atol=1e-6)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf - inf in the logits, on purpose
def test_fused_step_leaves_the_weights_alone_when_the_loss_is_not_finite():
    images, labels = pixels(64)
    model = MLP((784, 16, 10), seed=0)
    model.dense[1].W[0, 0] = np.inf
    before = model.state_dict()
    fb = FastPath(model, 64)
    fb.load(images, np.arange(64))
    loss, _ = fb.loaded(labels, 0.0, lr=0.1)
    assert not np.isfinite(loss)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_assigning_weights_copies_into_the_arrays_the_fast_path_uses():
    """The BLAS calls hold the weights' addresses: `layer.W = ...` must write into those
    arrays (the layer's [W; b] storage), never swap in new ones behind the fast path."""
    images, labels = pixels(64)
    model = MLP((784, 16, 10), seed=0)
    fb = FastPath(model, 64)
    fb.load(images, np.arange(64))
    fb.loaded(labels, 0.0, lr=0.1)
    layer = model.dense[0]
    W_view, Wb = layer.W, layer.Wb
    layer.W = np.zeros_like(W_view)
    layer.b = np.zeros_like(layer.b)
    assert layer.W is W_view and layer.Wb is Wb and not Wb.any()
    fb.loaded(labels, 0.0)  # gradients only: the forward pass runs on the zeroed layer
    assert not fb.a[0][:64, :-1].any()  # relu(x @ 0 + 0) = 0 for every digit


def test_correct_count_breaks_ties_like_argmax():
    fb = FastPath(MLP((784, 8, 10)), 4)
    zT = np.zeros((10, 4), np.float32)  # every class tied in every column
    zT[3, 1] = 1.0  # column 1: class 3 alone on top
    y = np.array([0, 3, 5, 9])
    shifted = zT - zT.max(axis=0)
    picked = shifted[y, np.arange(4)]
    want = int(np.count_nonzero(zT.argmax(axis=0) == y))  # 2: columns 0 and 1
    assert fb._correct(zT, shifted, picked, y) == want == 2
    zT[0, 0] = zT[5, 2] = zT[9, 3] = 2.0  # no ties left
    shifted = zT - zT.max(axis=0)
    assert fb._correct(zT, shifted, shifted[y, np.arange(4)], y) == 4


def test_loading_checks_the_batch():
    images, labels = pixels(64)
    fb = FastPath(MLP((784, 16, 10)), 8)
    with pytest.raises(ValueError, match="no batch loaded"):
        fb.loaded(labels[:8])
    with pytest.raises(ValueError, match="larger"):
        fb.load(images, np.arange(9))


def test_label_positions_computed_once_per_epoch_give_the_same_step():
    images, labels = pixels(100, seed=4)
    order = np.random.default_rng(1).permutation(100)
    model = MLP((784, 16, 10), seed=2)
    fb = FastPath(model, 32)
    at_epoch = fb.label_positions(labels[order])
    for start in (0, 96):  # a full batch and the short last one (4 rows)
        idx = order[start:start + 32]
        fb.load(images, idx)
        loss_a, correct_a = fb.loaded(labels[idx])
        grads_a = {k: v.copy() for k, v in model.grads().items()}
        loss_b, correct_b = fb.loaded(labels[idx], label_at=at_epoch[start:start + 32])
        assert (loss_b, correct_b) == (loss_a, correct_a)
        for k, g in model.grads().items():
            np.testing.assert_array_equal(g, grads_a[k])
