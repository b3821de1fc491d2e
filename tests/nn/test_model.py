"""The MLP: whole-network gradients vs central differences, shapes, state_dict, predictions."""

import numpy as np
import pytest

from mnist.nn.activations import ACTIVATIONS
from mnist.nn.layers import INITS
from mnist.nn.model import MLP
from tests.gradcheck import network_grad_errors, numeric_grad, rel_error


def tiny_batch(n=5, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)), rng.integers(0, 4, n)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_whole_network_gradient(activation, loss):
    x, y = tiny_batch()
    net = MLP((6, 5, 4, 4), activation=activation, init="xavier", seed=3, loss=loss,
              dtype="float64")
    for layer in net.dense:  # nonzero biases so their gradients are exercised
        layer.b[:] = np.random.default_rng(4).normal(0, 0.3, layer.b.shape)
    wd = 0.01
    _, grads = net.loss_and_grads(x, y, weight_decay=wd)
    grads = {k: v.copy() for k, v in grads.items()}
    state = {f"{i}.W": l.W for i, l in enumerate(net.dense)}
    state.update({f"{i}.b": l.b for i, l in enumerate(net.dense)})

    def loss_fn():
        out = net.forward(x)
        value, _ = net.loss_fn.loss_and_delta(out, y)
        return value + 0.5 * wd * sum(np.sum(l.W ** 2) for l in net.dense)

    for name, param in state.items():
        assert rel_error(grads[name], numeric_grad(loss_fn, param)) < 1e-6, name


def test_gradient_with_dropout_masks_fixed():
    x, y = tiny_batch(8)
    net = MLP((6, 7, 4), activation="tanh", init="xavier", seed=1, dropout=0.3,
              dtype="float64")
    net.set_rng(np.random.default_rng(9))
    net.forward_backward(x, y)
    dW = net.dense[0].dW.copy()
    # the same masks again: redraw from a generator in the same state
    def loss_fn():
        net.set_rng(np.random.default_rng(9))
        out = net.forward(x, training=True)
        return net.loss_fn.loss_and_delta(out, y)[0]
    assert rel_error(dW, numeric_grad(loss_fn, net.dense[0].W)) < 1e-6


def test_shapes_and_names():
    net = MLP((784, 128, 64, 10))
    sd = net.state_dict()
    assert list(sd) == ["0.W", "0.b", "1.W", "1.b", "2.W", "2.b"]
    assert sd["0.W"].shape == (784, 128) and sd["2.b"].shape == (10,)
    assert all(a.dtype == np.float32 for a in sd.values())
    assert net.n_params == 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
    x = np.random.default_rng(0).random((2500, 784), dtype=np.float32)
    p = net.predict_proba(x)
    assert p.shape == (2500, 10) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert np.array_equal(net.predict(x), p.argmax(1))


def test_any_number_of_hidden_layers_and_float64():
    for sizes in [(784, 10), (784, 20, 10), (784, 32, 16, 8, 10)]:
        net = MLP(sizes, dtype="float64")
        assert net.predict_proba(np.zeros((3, 784), np.float32)).dtype == np.float64


def test_same_seed_same_weights_other_seed_different():
    a, b, c = MLP((784, 32, 10), seed=5), MLP((784, 32, 10), seed=5), MLP((784, 32, 10), seed=6)
    assert np.array_equal(a.dense[0].W, b.dense[0].W)
    assert not np.array_equal(a.dense[0].W, c.dense[0].W)


def test_load_state_dict_validates_and_copies_in_place():
    net = MLP((784, 16, 10), seed=0)
    other = MLP((784, 16, 10), seed=1)
    W_before = net.dense[0].W
    net.load_state_dict(other.state_dict())
    assert net.dense[0].W is W_before and np.array_equal(W_before, other.dense[0].W)
    sd = other.state_dict()
    with pytest.raises(ValueError, match="0.W has shape"):
        net.load_state_dict({**sd, "0.W": np.zeros((784, 17))})
    with pytest.raises(ValueError, match="missing"):
        net.load_state_dict({k: v for k, v in sd.items() if k != "1.b"})
    with pytest.raises(ValueError, match="NaN"):
        net.load_state_dict({**sd, "1.b": np.full(10, np.nan)})


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        MLP((784, 10), activation="swish")
    with pytest.raises(ValueError, match="unknown init"):
        MLP((784, 10), init="zeros")
    with pytest.raises(ValueError, match="expected input of shape"):
        MLP((784, 10)).predict(np.zeros((2, 28, 28)))


def test_all_inits_build():
    for init in INITS:
        assert np.isfinite(MLP((784, 8, 10), init=init).dense[0].W).all()


# ------------------------------------------------------------------------------ threads
def _inference(net, x):
    """Everything a shared model answers: outputs, probabilities, loss, and the traced
    forward with its gradient back to the pixels (saliency)."""
    trace = []
    out = net.forward(x, trace=trace)
    delta = np.zeros_like(out)
    delta[np.arange(len(out)), out.argmax(1)] = 1
    return (out, net.predict_proba(x), net.loss_on(x, np.arange(len(x)) % 10)[0],
            [o for _, _, o in trace], net.input_grad(trace, delta))


@pytest.mark.parametrize("kw", [dict(), dict(activation="tanh", dropout=0.3)])
def test_inference_from_many_threads_gives_the_single_threaded_answers(kw):
    """One model (the bundled one serves every session) called from 8 threads at once, each
    with its own inputs: every answer equals the one computed alone, and no layer is left
    holding a batch."""
    from concurrent.futures import ThreadPoolExecutor
    import threading

    net = MLP((784, 64, 32, 10), seed=4, **kw)
    n_threads, calls = 8, 30
    rng = np.random.default_rng(7)
    inputs = [[rng.random((1 + (t * calls + c) % 37, 784), dtype=np.float32)
               for c in range(calls)] for t in range(n_threads)]
    expected = [[_inference(net, x) for x in row] for row in inputs]
    start = threading.Barrier(n_threads)

    def work(t):
        start.wait()
        return [_inference(net, x) for x in inputs[t]]

    with ThreadPoolExecutor(n_threads) as pool:
        results = list(pool.map(work, range(n_threads)))
    for t in range(n_threads):
        for c in range(calls):
            got, want = results[t][c], expected[t][c]
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
            assert got[2] == want[2]
            for a, b in zip(got[3], want[3]):
                np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(got[4], want[4])
    for layer in net.layers:
        assert all(getattr(layer, k, None) is None for k in ("x", "a", "mask"))


def test_trace_records_every_layer_and_input_grad_is_the_gradient():
    net = MLP((784, 12, 7, 10), activation="sigmoid", seed=2, dtype="float64")
    x = np.random.default_rng(3).random((2, 784))
    trace = []
    out = net.forward(x, trace=trace)
    assert [layer for layer, _, _ in trace] == net.layers
    assert trace[0][1] is not None and np.array_equal(trace[-1][2], out)
    z1 = x @ net.dense[0].W + net.dense[0].b
    np.testing.assert_allclose(trace[0][2], z1)  # the pre-activation, kept as it was
    np.testing.assert_allclose(trace[1][2], 1 / (1 + np.exp(-z1)))
    w = np.random.default_rng(4).normal(size=out.shape)  # L = sum(w * out)
    grad = net.input_grad(trace, w.copy())
    num = numeric_grad(lambda: float(np.sum(w * net.forward(x))), x)
    assert rel_error(grad, num) < 1e-6


# ------------------------------------------------------------------------------ a new layer
class Scale:
    """A layer the network has never heard of: out = x * s + c, per unit (s (1, n), c (n,))."""

    need_dx = True

    def __init__(self, n, rng=None):
        rng = np.random.default_rng(rng)
        self.s, self.c = rng.normal(1, 0.2, (1, n)), rng.normal(0, 0.2, n)
        self.ds, self.dc = np.zeros_like(self.s), np.zeros_like(self.c)
        self.x = None

    def params(self):
        yield self.s, self.ds
        yield self.c, self.dc

    def forward(self, x, training=False):
        if training:
            self.x = x
        return x * self.s + self.c

    def backward(self, delta):
        x, self.x = self.x, None
        np.sum(delta * x, axis=0, keepdims=True, out=self.ds)
        np.sum(delta, axis=0, out=self.dc)
        return delta * self.s

    def input_grad(self, delta, x, out):
        return delta * self.s


def test_a_new_layer_type_needs_only_its_class_and_registry_entry(monkeypatch):
    from mnist.nn.fast import FastPath
    from mnist.nn.layers import LAYERS

    monkeypatch.setitem(LAYERS, "scale", Scale)
    x, y = tiny_batch()
    net = MLP((6, 5, 4), activation="tanh", seed=3, dtype="float64")
    net.layers.insert(2, LAYERS["scale"](5, rng=1))
    assert list(net.state_dict()) == ["0.W", "0.b", "1.W", "1.b", "2.W", "2.b"]
    errors = network_grad_errors(net, x, y, wd=0.01)
    assert len(errors) == 6 and all(e < 1e-6 for e in errors.values()), errors
    assert "Scale" in FastPath.declines(net) and not FastPath.supports(net)
    other = MLP((6, 5, 4), activation="tanh", seed=9, dtype="float64")
    other.layers.insert(2, Scale(5, rng=2))
    other.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(other.forward(x), net.forward(x))
