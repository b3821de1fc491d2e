"""mnist.analysis.inside on conv nets and ensembles: feature maps against the model's own
forward trace and a convolution written out by hand, the first layer's filters, the Dense
head's trace, saliency of a conv net and of an ensemble against central differences."""

import numpy as np
import pytest

from mnist import MLP, Ensemble
from mnist.analysis import inside
from mnist.nn.conv import Conv2D
from mnist.nn.layers import Activation
from mnist.nn.model import Network
from tests.gradcheck import rel_error

SPEC = "conv3k3-pool-conv4k3v-pool-8"


def _net(dtype="float64", seed=0, activation="relu"):
    return Network(SPEC, activation=activation, seed=seed, dtype=dtype)


def _x(n=2, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).random((n, 784)).astype(dtype)


def _correlate(x, W, b, pad):
    """(N, C, H, W) images * W (O, C, k, k) + b, stride 1, `pad` zeros on each side: the
    k*k shifted copies of the input, summed by hand."""
    O, C, k, _ = W.shape
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    H, Wd = x.shape[2] - k + 1, x.shape[3] - k + 1
    out = np.zeros((len(x), O, H, Wd)) + b[None, :, None, None]
    for i in range(k):
        for j in range(k):
            patch = x[:, :, i:i + H, j:j + Wd]  # (N, C, H, W)
            out += np.einsum("nchw,oc->nohw", patch, W[:, :, i, j])
    return out


def _maxpool(x, s=2):
    N, C, H, W = x.shape
    H, W = H // s * s, W // s * s
    return x[:, :, :H, :W].reshape(N, C, H // s, s, W // s, s).max(axis=(3, 5))


# ------------------------------------------------------------------------------ feature maps
def test_feature_maps_are_the_conv_stages_after_activation_and_pooling():
    model = _net()
    x = _x(2)
    stages = inside.feature_maps(model, x)
    assert [(s["name"], s["kind"], s["token"]) for s in stages] == [
        ("conv 1", "conv", "conv3k3"), ("pool 1", "pool", "pool"),
        ("conv 2", "conv", "conv4k3v"), ("pool 2", "pool", "pool")]
    assert [s["maps"].shape for s in stages] == [(2, 3, 28, 28), (2, 3, 14, 14),
                                                (2, 4, 12, 12), (2, 4, 6, 6)]
    # the model's own trace: the conv layers' outputs and the activations after them
    steps = []
    model.forward(x, trace=steps)
    convs = [i for i, (layer, _, _) in enumerate(steps) if isinstance(layer, Conv2D)]
    for stage, i in zip([stages[0], stages[2]], convs):
        np.testing.assert_array_equal(stage["z"], steps[i][2])
        assert isinstance(steps[i + 1][0], Activation)
        np.testing.assert_array_equal(stage["maps"], steps[i + 1][2])
    # a convolution written out by hand, ReLU, 2x2 max pooling
    c1, c2 = [layer for layer in model.layers if isinstance(layer, Conv2D)]
    z1 = _correlate(x.reshape(2, 1, 28, 28), c1.W, c1.b, pad=1)
    np.testing.assert_allclose(stages[0]["z"], z1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stages[0]["maps"], np.maximum(z1, 0), rtol=1e-10, atol=1e-12)
    p1 = _maxpool(np.maximum(z1, 0))
    np.testing.assert_allclose(stages[1]["maps"], p1, rtol=1e-10, atol=1e-12)
    z2 = _correlate(p1, c2.W, c2.b, pad=0)  # "valid": no padding
    np.testing.assert_allclose(stages[2]["maps"], np.maximum(z2, 0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stages[3]["maps"], _maxpool(np.maximum(z2, 0)), rtol=1e-10,
                               atol=1e-12)
    # the last stage, flattened and sent through the Dense head, is the network's output
    head = np.asarray(stages[-1]["maps"]).reshape(2, -1)
    tr = inside.forward_trace(model, x)
    d0 = model.dense[0]
    np.testing.assert_allclose(tr[0]["z"], head @ d0.W + d0.b, rtol=1e-10)
    np.testing.assert_allclose(tr[-1]["a"], model.predict_proba(x), rtol=1e-10)
    # captions say what each row is
    assert "3 channels of 28x28" in stages[0]["caption"] and "relu" in stages[0]["caption"]
    assert "3x3 filter" in stages[0]["caption"] and "the image" in stages[0]["caption"]
    assert "all 3 channels" in stages[2]["caption"]
    assert "largest value of every 2x2 block" in stages[1]["caption"]


def test_feature_maps_take_an_image_and_leave_the_model_alone():
    model = _net("float32", seed=2, activation="tanh")
    x = _x(1, seed=3, dtype=np.float32)
    before = model.state_dict()
    one = inside.feature_maps(model, x[0].reshape(28, 28))
    row = inside.feature_maps(model, x)
    for a, b in zip(one, row):
        np.testing.assert_array_equal(a["maps"], b["maps"])
    assert np.min(one[0]["maps"]) < 0  # tanh: signed maps
    assert "tanh" in one[0]["caption"]
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert inside.feature_maps(MLP((784, 5, 10)), x) == []  # an MLP has no feature maps


def test_conv_filters_are_a_copy_of_the_first_conv_weights():
    model = _net()
    W = inside.conv_filters(model)
    first = next(layer for layer in model.layers if isinstance(layer, Conv2D))
    assert W.shape == (3, 1, 3, 3)
    np.testing.assert_array_equal(W, first.W)
    W[...] = 0
    assert np.any(first.W != 0)  # a copy
    with pytest.raises(ValueError, match="no convolution"):
        inside.conv_filters(MLP((784, 5, 10)))
    with pytest.raises(ValueError, match="conv_filters"):
        inside.weight_tiles(model)


def test_forward_trace_of_a_conv_net_without_dense_hidden_layers():
    model = Network("conv2k3-pool", seed=1, dtype="float64")
    tr = inside.forward_trace(model, _x(1))
    assert [t["name"] for t in tr] == ["output"]
    np.testing.assert_allclose(tr[0]["a"], model.predict_proba(_x(1)), rtol=1e-10)


# ------------------------------------------------------------------------------ saliency
def _check_grad(f, x, grad, idx, h=1e-6):
    num = []
    for i in idx:
        old = x[0, i]
        x[0, i] = old + h
        fp = f()
        x[0, i] = old - h
        fm = f()
        x[0, i] = old
        num.append((fp - fm) / (2 * h))
    return rel_error(grad[0, idx], np.array(num))


def test_conv_net_saliency_matches_central_differences():
    model = _net(activation="tanh", seed=4)
    x = _x(1, seed=5)
    grad, probs = inside.saliency(model, x)
    winner = int(model.forward(x).argmax())
    assert probs.argmax() == winner and grad.shape == (1, 784)
    idx = np.random.default_rng(0).choice(784, 40, replace=False)
    assert _check_grad(lambda: float(model.forward(x)[0, winner]), x, grad, idx) < 1e-6


def test_ensemble_saliency_is_the_gradient_of_its_log_mean_probability():
    ens = Ensemble([_net(seed=6, activation="tanh"),
                    MLP((784, 9, 10), activation="sigmoid", seed=7, dtype="float64")])
    x = _x(1, seed=8)
    for target in (None, 3):
        grad, probs = inside.saliency(ens, x, target=target)
        np.testing.assert_allclose(probs, ens.predict_proba(x), rtol=1e-10)
        c = int(ens.predict_proba(x).argmax()) if target is None else target
        idx = np.random.default_rng(1).choice(784, 40, replace=False)
        err = _check_grad(lambda: float(ens.forward(x)[0, c]), x, grad, idx)
        assert err < 1e-6, (target, err)
    # an ensemble of one is that network
    net = _net(seed=9)
    g1, p1 = inside.saliency(Ensemble([net]), x)
    g2, p2 = inside.saliency(net, x)
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_allclose(inside.predict_proba(ens, x), ens.predict_proba(x), rtol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        inside.saliency(ens, np.zeros((1, 100)))
