"""Layer specs and the networks they build: parsing, shapes and parameter counts against the
built layers, errors naming the piece, the MLP unchanged, a whole conv net's gradients against
central differences, (N, 784) in and (N, 10) out whatever the layers."""

import re

import numpy as np
import pytest

from mnist.errors import ConfigError
from mnist.nn.conv import Conv2D
from mnist.nn.layers import LAYERS, Activation, Dense, Dropout
from mnist.nn.model import MLP, Network, build_network, from_architecture
from mnist.nn.pool import Flatten, MaxPool2D
from mnist.nn.spec import (MAX_PARAMS, Piece, canonical, check_limits, dense_units, is_dense,
                           layer_shapes, param_shapes, parse_spec, working_floats)
from tests.gradcheck import network_grad_errors, numeric_grad, rel_error

SPECS = ["conv16k5-pool-conv32k5-pool-128", "conv8k3v-pool-conv8k3-pool3", "pool-16",
         "conv4k28v", "conv6k3-conv6k3-pool-64-32", "pool", "conv3k2-pool"]


def test_parse_and_canonical_forms():
    assert parse_spec("conv16k5-pool-conv32k5v-pool3-128") == (
        Piece("conv", 16, 5, "same"), Piece("pool", 0, 2), Piece("conv", 32, 5, "valid"),
        Piece("pool", 0, 3), Piece("dense", 128))
    assert canonical(" Conv16K5s , pool2 ; 128 64 ") == "conv16k5-pool-128-64"
    assert canonical((128, 64)) == "128-64" and parse_spec("") == parse_spec("none") == ()
    assert is_dense("128-64") and is_dense("") and not is_dense("pool-10")
    assert dense_units("conv8k3-pool-64-32") == (64, 32)


@pytest.mark.parametrize("spec,match", [
    ("conf16k5", "layers: 'conf16k5' is not a layer; write conv<channels>k<kernel>"),
    ("conv16", "layers: 'conv16' is not a layer"),
    ("128-conv8k3", "layers: 'conv8k3' comes after a Dense layer"),
    ("64-pool", "layers: 'pool' comes after a Dense layer"),
    ("conv0k3", "layers: 'conv0k3' has a size of 0"),
    ("conv8k0", "layers: 'conv8k0' has a size of 0"),
    ("pool0", "layers: 'pool0' has a size of 0"),
    ("conv8k29", "layers: conv8k29 has a 29x29 kernel but the map is 28x28"),
    ("conv8k5v-pool-conv8k13v", "layers: conv8k13v has a 13x13 kernel but the map is 12x12"),
    ("pool-pool-pool-pool-pool", "layers: pool cannot pool a 1x1 map"),
    ("pool4-pool4-pool", "layers: pool cannot pool a 1x1 map"),
    ("conv2000k3", "layers: conv2000k3 has more than 1024 channels"),
    ("5000", "layers: 5000 has more than 4096 units"),
    ("-".join(["8"] * 11), "layers: at most 10 Dense hidden layers"),
    ("conv1024k3-conv1024k13", "layers: .* parameters is more than .*conv1024k13 alone"),
])
def test_bad_specs_name_the_piece(spec, match):
    with pytest.raises(ConfigError, match=match):
        check_limits(spec)


def test_a_kernel_that_just_fits_is_fine():
    rows = layer_shapes("conv8k5v-pool-conv8k12v")  # 28 -> 24 -> 12 -> 1
    assert rows[2].shape == (8, 1, 1)


@pytest.mark.parametrize("spec", SPECS)
def test_shapes_and_params_are_the_built_network_s(spec):
    net = build_network(spec, seed=1)
    rows = layer_shapes(spec)
    assert sum(r.params for r in rows) == net.n_params
    assert rows[-1] == ("output", (10,), rows[-1].params)
    assert param_shapes(spec) == {k: v.shape for k, v in net.state_dict().items()}
    # every row's shape is what the layers give, traced on two digits
    trace = []
    x = np.random.default_rng(0).random((2, 784), dtype=np.float32)
    net.forward(x, trace=trace)
    outputs = [out.shape[1:] for layer, _, out in trace
               if not isinstance(layer, (Activation, Dropout))]
    assert outputs == [r.shape for r in rows]
    assert [type(layer) for layer in net.layers if isinstance(layer, Flatten)] == [Flatten]


def test_layers_in_order_through_the_registry(monkeypatch):
    net = build_network("conv4k3-pool-conv8k3v-16", dropout=0.25, activation="tanh")
    kinds = [type(layer) for layer in net.layers]
    assert kinds == [Conv2D, Activation, MaxPool2D, Conv2D, Activation, Flatten, Dense,
                     Activation, Dropout, Dense]
    assert net.layers[3].padding == "valid" and net.layers[0].padding == "same"
    assert all(a.name == "tanh" for a in net.layers if isinstance(a, Activation))
    assert net.layers[0].need_dx is False and net.kind == "cnn"
    assert LAYERS["conv2d"] is Conv2D and LAYERS["maxpool2d"] is MaxPool2D

    class Spy(Conv2D):
        pass
    monkeypatch.setitem(LAYERS, "conv2d", Spy)
    assert isinstance(build_network("conv2k3-pool").layers[0], Spy)


@pytest.mark.parametrize("kw", [dict(), dict(init="uniform", dropout=0.3, activation="tanh"),
                                dict(init="xavier", dtype="float64")])
def test_a_dense_spec_is_the_mlp_draw_for_draw(kw):
    mlp = MLP((784, 32, 16, 10), seed=5, **kw)
    for net in (build_network("32-16", seed=5, **kw), Network("32-16", seed=5, **kw)):
        assert [type(a) for a in net.layers] == [type(a) for a in mlp.layers]
        for (k, a), (k2, b) in zip(mlp.state_dict().items(), net.state_dict().items()):
            assert k == k2 and a.dtype == b.dtype and np.array_equal(a, b)
    assert isinstance(build_network("32-16"), MLP) and mlp.spec == "32-16"
    assert mlp.kind == "mlp" and mlp.input_shape == (784,) and mlp.chunk_rows == 1000


def test_architecture_rebuilds_the_network():
    for net in (build_network("conv4k3v-pool-8", activation="leaky_relu", loss="mse",
                              dtype="float64", dropout=0.1),
                MLP((784, 12, 10), init="xavier")):
        again = from_architecture(net.architecture(), seed=9)
        assert type(again) is type(net) and again.architecture() == net.architecture()
    assert isinstance(from_architecture(dict(sizes=[784, 5, 10], activation="relu")), MLP)


def test_rows_in_and_out_whatever_the_layers():
    net = build_network("conv4k3-pool-conv8k3-pool-16", seed=2)
    x = np.random.default_rng(1).random((7, 784), dtype=np.float32)
    probs = net.predict_proba(x)
    assert probs.shape == (7, 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)
    assert np.array_equal(net.predict(x), probs.argmax(1))
    with pytest.raises(ValueError, match=re.escape("expected input of shape (N, 784)")):
        net.predict(x.reshape(7, 28, 28))
    loss, correct = net.loss_on(x, np.arange(7))
    assert np.isfinite(loss) and 0 <= correct <= 7
    # chunks of a conv net are cut by its memory, and give the same answers as one pass
    big = build_network("conv16k5-pool-conv32k5-pool-128")
    assert big.chunk_rows < 1000 and big.rows_within(10**9, training=True) < 10**9
    net.chunk_rows = 3
    np.testing.assert_allclose(net.predict_proba(x), probs, rtol=1e-5, atol=1e-7)


def test_working_memory_counts_the_patches():
    # conv4k3 on 1x28x28, same padding: the padded image, the patches (9 + 1 per pixel) and
    # the 4 output channels
    assert working_floats("conv4k3-pool-16") == [30 * 30 + (9 + 1 + 4) * 784]
    assert working_floats("128-64") == []


def test_whole_conv_net_gradient_and_input_grad():
    """Every parameter's gradient of a small conv net (conv, pool, conv, flatten, dense) and
    the gradient with respect to the pixels, against central differences in float64."""
    rng = np.random.default_rng(0)
    net = Network("conv2k3-pool-conv3k2v-5", activation="tanh", init="xavier", seed=3,
                  dtype="float64", input_shape=(1, 6, 6), n_classes=4)
    for _, b, _ in net.named_params():
        if b.ndim == 1:
            b[:] = rng.normal(0, 0.3, b.shape)
    x, y = rng.random((3, 36)), np.array([0, 3, 1])
    params = {name: p for name, p, _ in net.named_params()}
    assert params["0.W"].shape == (2, 1, 3, 3) and params["1.W"].shape == (3, 2, 2, 2)
    errors = network_grad_errors(net, x, y, wd=0.01)
    assert set(errors) == set(params) and all(e < 1e-6 for e in errors.values()), errors
    trace = []
    out = net.forward(x, trace=trace)
    delta = net.loss_fn.loss_and_delta(out, y)[1]
    dx = net.input_grad(trace, delta)
    assert dx.shape == (3, 36)
    assert rel_error(dx, numeric_grad(lambda: net.loss_fn.loss_and_delta(net.forward(x), y)[0],
                                      x)) < 1e-6


def test_max_params_admits_every_mlp_hidden_allows():
    check_limits("-".join(["4096"] * 10))  # the largest MLP TrainConfig(hidden=...) accepts
    assert sum(r.params for r in layer_shapes("-".join(["4096"] * 10))) < MAX_PARAMS
