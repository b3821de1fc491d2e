"""mnist.analysis.inside: saliency vs central differences, the layer trace vs the model and a
hand computation, weight tiles, pictures."""

import numpy as np
import pytest

from mnist import MLP
from mnist.analysis import inside
from tests.gradcheck import numeric_grad, rel_error


# ------------------------------------------------------------------------------ saliency
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_saliency_matches_central_differences(activation, loss):
    model = MLP((784, 12, 7, 10), activation=activation, loss=loss, seed=3, dtype="float64")
    rng = np.random.default_rng(1)
    for trial in range(3):
        x = rng.random((1, 784))  # float64
        grad, probs = inside.saliency(model, x)
        winner = int(model.forward(x).argmax())
        assert probs.argmax() == winner

        def logit():
            return float(model.forward(x)[0, winner])

        # only a random subset of pixels: 784 pixels x 2 forward passes is still quick, but
        # the subset keeps the test well under a second
        idx = rng.choice(784, 60, replace=False)
        num = np.zeros(784)
        full = numeric_grad(logit, x, h=1e-6)[0]
        num[idx] = full[idx]
        assert rel_error(grad[0, idx], num[idx]) < 1e-6, (activation, loss, trial)


def test_saliency_batch_rows_are_independent_and_target_is_honoured():
    model = MLP((784, 16, 10), activation="tanh", seed=0, dtype="float64")
    rng = np.random.default_rng(2)
    x = rng.random((4, 784))
    g_batch, _ = inside.saliency(model, x, target=[0, 1, 2, 3])
    for i in range(4):
        g_one, _ = inside.saliency(model, x[i:i + 1], target=i)
        np.testing.assert_allclose(g_batch[i], g_one[0], rtol=1e-12, atol=1e-14)
    # for a 1-hidden-layer net the gradient of logit k is W0 @ (f'(z) * W1[:, k])
    z = x[:1] @ model.dense[0].W + model.dense[0].b
    expect = model.dense[0].W @ ((1 - np.tanh(z[0]) ** 2) * model.dense[1].W[:, 0])
    np.testing.assert_allclose(g_batch[0], expect, rtol=1e-10)


def test_saliency_does_not_touch_model_state():
    model = MLP((784, 8, 10), seed=0)
    before = model.state_dict()
    inside.saliency(model, np.random.default_rng(0).random((2, 784), dtype=np.float32))
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert all(d.x is None for d in model.dense)


# ------------------------------------------------------------------------------ activations
def test_forward_trace_matches_model_and_hand_computation():
    model = MLP((784, 10, 6, 10), activation="relu", seed=5)
    x = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    trace = inside.forward_trace(model, x)
    assert [t["name"] for t in trace] == ["hidden 1", "hidden 2", "output"]
    assert [t["a"].shape for t in trace] == [(3, 10), (3, 6), (3, 10)]
    np.testing.assert_allclose(trace[-1]["a"], model.predict_proba(x), rtol=1e-5, atol=1e-6)
    z1 = x @ model.dense[0].W + model.dense[0].b
    np.testing.assert_allclose(trace[0]["z"], z1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(trace[0]["a"], np.maximum(z1, 0), rtol=1e-5, atol=1e-6)
    # a single 28x28 image is one row
    one = inside.forward_trace(model, x[0].reshape(28, 28))
    np.testing.assert_allclose(one[-1]["a"][0], trace[-1]["a"][0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        inside.forward_trace(model, np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        inside.forward_trace(model, np.zeros((1, 784), np.uint8))


def test_weight_tiles_are_the_first_layer_columns():
    model = MLP((784, 5, 10), seed=1)
    tiles = inside.weight_tiles(model)
    assert tiles.shape == (5, 28, 28)
    for k in range(5):
        for r, c in [(0, 0), (3, 17), (27, 27)]:
            assert tiles[k, r, c] == model.dense[0].W[r * 28 + c, k]


def test_normalise_tiles():
    tiles = np.zeros((3, 28, 28))
    tiles[0, 1, 1], tiles[0, 2, 2] = -4.0, 2.0
    tiles[1, 5, 5] = 0.5
    out = inside.normalise_tiles(tiles)
    assert out[0, 1, 1] == -1.0 and out[0, 2, 2] == 0.5 and out[1, 5, 5] == 1.0
    assert np.all(out[2] == 0)


# ------------------------------------------------------------------------------ pictures
def test_upscale_and_overlay():
    img = np.zeros((28, 28), np.float32)
    img[10:18, 13:15] = 1
    grad = np.zeros((28, 28))
    grad[12, 14], grad[3, 3] = 2.0, -1.0
    rgb = inside.saliency_overlay(img, grad, scale=4)
    assert rgb.shape == (112, 112, 3) and rgb.dtype == np.uint8
    px = rgb[12 * 4 + 1, 14 * 4 + 1]
    assert px[0] == 255 and px[2] < 100  # pushed up: red
    px = rgb[3 * 4, 3 * 4]
    assert px[2] > 120 and px[0] < 50  # pushed down: blue (half as strong)
    np.testing.assert_array_equal(inside.upscale(np.eye(2), 2), np.kron(np.eye(2), np.ones((2, 2))))


def test_to_uint8():
    assert inside.to_uint8(np.full((28, 28), 0.5)).max() == 128
    assert inside.to_uint8(np.full((1, 784), 1.0)).shape == (28, 28)  # a row is one digit
    wide = inside.to_uint8(np.array([[0.0, 0.2, 1.0, 1.5]] * 3, np.float32))  # any picture
    assert wide.dtype == np.uint8 and wide.tolist() == [[0, 51, 255, 255]] * 3
