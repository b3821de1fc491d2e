"""Inside the network: every layer's values, saliency, the first layer's weights as pictures.

The functions behind the Inside page and the Draw page's saliency, as plain NumPy:

- every Dense layer's pre-activation `z` and activation `a`, from the model's own forward;
- a conv net's feature maps: each conv layer's channels after its activation, and after each
  pooling, as CNN Explainer shows them; its first conv layer's filters;
- saliency = d(winning output)/d(input), by backprop through the same record (for an
  ensemble, through every member to the log of the mean probability);
- how each last-hidden unit moves the winning logit;
- the first layer's weights as 28x28 tiles; pictures: float images as uint8 pixels,
  nearest-neighbour upscaling and a red/blue saliency overlay.

All use `model.forward(x, trace=...)` and `model.input_grad`, which write nothing on the model:
the bundled models serve every session at once.
"""

from __future__ import annotations

import numpy as np

from mnist.constants import SIDE
from mnist.nn.conv import Conv2D
from mnist.nn.layers import Activation, Dense
from mnist.nn.losses import softmax
from mnist.nn.pool import Flatten, MaxPool2D


def _as_rows(model, x) -> np.ndarray:
    """x as float rows (N, 784) in the model's dtype; a (784,), (28, 28) or (N, 28, 28)
    input is reshaped."""
    x = np.asarray(x)
    if x.ndim == 1 or x.shape == (SIDE, SIDE):
        x = x.reshape(1, -1)
    elif x.ndim == 3:
        x = x.reshape(len(x), -1)
    if x.ndim != 2 or x.shape[1] != model.n_inputs:
        raise ValueError(f"expected input of shape (N, {model.n_inputs}) or 28x28 images, "
                         f"got {x.shape}")
    if x.dtype == np.uint8:
        raise ValueError("expected floats in [0, 1], got uint8 pixels (divide by 255)")
    return x.astype(model.dtype, copy=False)


def forward_trace(model, x) -> list[dict]:
    """Every Dense layer's values for inputs x (N, 784) (or (28, 28) / (N, 28, 28)):

        [{"name": "hidden 1", "z": (N, h1), "a": (N, h1)}, ..., {"name": "output",
          "z": logits (N, 10), "a": probs (N, 10)}]

    z is the pre-activation x @ W + b, a = f(z) (softmax for the output). Dropout is off.
    For a conv net these are the layers after Flatten (its conv part: `feature_maps`).
    """
    steps = []
    model.forward(_as_rows(model, x), trace=steps)  # (layer, input, output) per layer
    trace = []
    below = None
    for layer, _, out in steps:
        if isinstance(layer, Dense):  # a new pre-activation
            trace.append(dict(name=f"hidden {len(trace) + 1}", z=out, a=None))
        elif isinstance(layer, Activation) and isinstance(below, Dense):
            trace[-1]["a"] = out
        below = layer
    trace[-1].update(name="output", a=softmax(trace[-1]["z"]))
    return trace


def predict_proba(model, x) -> np.ndarray:
    """Class probabilities (N, 10) through the same pure forward pass (no shared state); an
    ensemble's are the mean of its members'."""
    if getattr(model, "kind", None) == "ensemble":
        return model.predict_proba(_as_rows(model, x))
    return forward_trace(model, x)[-1]["a"]


def feature_maps(model, x) -> list[dict]:
    """A conv net's feature maps for inputs x (N, 784) (or 28x28 images), one stage per conv
    layer (after its activation) and per pooling, input to Flatten:

        [{"name": "conv 1", "kind": "conv", "token": "conv16k5", "maps": (N, 16, 28, 28),
          "z": the maps before the activation, "kernel": 5, "caption": "..."},
         {"name": "pool 1", "kind": "pool", "token": "pool", "maps": (N, 16, 14, 14), ...}, ...]

    Channel c of a conv stage is act(sum over the input channels of that channel's k x k
    filter slid over them + its bias): where in the image its pattern is found. An MLP has
    none (an empty list)."""
    steps = []
    model.forward(_as_rows(model, x), trace=steps)
    stages, counts = [], {"conv": 0, "pool": 0}
    for layer, _, out in steps:
        if isinstance(layer, Flatten) or isinstance(layer, Dense):
            break
        if isinstance(layer, Conv2D):
            counts["conv"] += 1
            k, pad = layer.kernel, "v" if layer.padding == "valid" else ""
            stages.append(dict(name=f"conv {counts['conv']}", kind="conv",
                               token=f"conv{layer.out_channels}k{k}{pad}", maps=out, z=out,
                               kernel=k, in_channels=layer.in_channels))
        elif isinstance(layer, Activation) and stages and stages[-1]["kind"] == "conv":
            stages[-1]["maps"] = out
            stages[-1]["activation"] = layer.name
        elif isinstance(layer, MaxPool2D):
            counts["pool"] += 1
            size = layer.size
            stages.append(dict(name=f"pool {counts['pool']}", kind="pool",
                               token="pool" if size == 2 else f"pool{size}", maps=out,
                               kernel=size))
    for s in stages:
        s["caption"] = _stage_caption(s)
    return stages


def _stage_caption(stage: dict) -> str:
    _, C, H, W = stage["maps"].shape
    if stage["kind"] == "conv":
        inputs = ("the image" if stage["in_channels"] == 1
                  else f"all {stage['in_channels']} channels of the row above")
        return (f"{C} channels of {H}x{W}; each is "
                f"{stage.get('activation', 'the identity')} of one {stage['kernel']}x"
                f"{stage['kernel']} filter slid over {inputs}, plus a bias. Bright = the "
                "filter's pattern is there.")
    k = stage["kernel"]
    size = "half" if k == 2 else f"1/{k} of"
    return (f"{C} channels of {H}x{W}; each keeps the "
            f"largest value of every {k}x{k} block of the row above ({size} the size, the "
            "strongest responses kept).")


def conv_filters(model) -> np.ndarray:
    """The first conv layer's weights W (out, in, k, k) (a copy): filter o is the k x k
    pattern (per input channel) that channel o of the first feature maps responds to."""
    for layer in model.layers:
        if isinstance(layer, Conv2D):
            return np.array(layer.W)
        if isinstance(layer, Dense):
            break
    raise ValueError("this network has no convolution layer (its first layer is Dense: "
                     "see weight_tiles)")


def saliency(model, x, target=None) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of a logit (an ensemble: of its log mean probability) with respect to the
    input pixels, by backprop.

    x (N, 784) floats (or 28x28 images); target (N,) class per row, default the winning class
    (argmax). Returns (grad (N, 784) in the model's dtype, probs (N, 10)).

    Positive gradient: more ink at that pixel would raise the logit (the pixel argues for the
    class); negative: ink there argues against. Backward from delta = e_target:
        delta <- delta @ W^T            through a Dense layer
        delta <- delta * f'(z)          through an activation (f' from its output a)
    """
    x = _as_rows(model, x)
    if getattr(model, "kind", None) == "ensemble":
        return _ensemble_saliency(model, x, target)
    steps = []
    logits = model.forward(x, trace=steps)  # (N, 10)
    probs = softmax(logits)
    if target is None:
        target = logits.argmax(axis=1)
    target = np.broadcast_to(np.asarray(target, dtype=np.int64), (len(logits),))
    delta = np.zeros_like(logits)  # (N, 10)
    delta[np.arange(len(logits)), target] = 1
    return model.input_grad(steps, delta), probs


def _ensemble_saliency(ens, x, target):
    """The gradient of an ensemble's output, log pbar_c with pbar the mean of the M members'
    softmax p_m, through each member (one member: that member's own saliency):

        d log pbar_c / dx = sum_m (p_m,c / (M pbar_c)) * d log p_m,c / dx,
        d log p_m,c / dz_m = e_c - p_m      (z_m: member m's logits)

    so each member backpropagates delta_m = p_m,c (e_c - p_m) / (M pbar_c)."""
    if len(ens.members) == 1:
        return saliency(ens.members[0], x, target)
    runs = []
    for m in ens.members:
        steps = []
        p = softmax(m.forward(x.astype(m.dtype, copy=False), trace=steps)).astype(np.float64)
        runs.append((m, steps, p))
    pbar = sum(p for _, _, p in runs) / len(runs)  # (N, 10)
    if target is None:
        target = pbar.argmax(axis=1)
    target = np.broadcast_to(np.asarray(target, dtype=np.int64), (len(x),))
    rows = np.arange(len(x))
    grad = np.zeros(x.shape, dtype=np.float64)
    for m, steps, p in runs:
        w = p[rows, target] / (len(runs) * np.maximum(pbar[rows, target], 1e-30))  # (N,)
        delta = -p * w[:, None]
        delta[rows, target] += w
        grad += m.input_grad(steps, delta.astype(m.dtype))
    return grad.astype(ens.dtype), pbar.astype(ens.dtype)


def output_contributions(model, trace: list[dict], row: int = 0, target: int | None = None):
    """How each unit of the last hidden layer moves the `target` logit (default: the winner):
    a_j * W[j, target], so logit = sum_j of these + b[target]. (units,) array, and target."""
    if len(trace) < 2:
        raise ValueError("a network without hidden layers has no hidden units to show")
    logits = trace[-1]["z"][row]
    target = int(np.argmax(logits)) if target is None else int(target)
    a = trace[-2]["a"][row]  # (h_last,)
    return a * model.dense[-1].W[:, target], target


def weight_tiles(model) -> np.ndarray:
    """The first layer's weights as images: (h1, 28, 28), tile k = the pixel pattern that
    excites hidden unit k (its incoming weights W[:, k])."""
    if getattr(model, "kind", "mlp") != "mlp":
        raise ValueError("the first layer is not Dense (a conv net: see conv_filters; an "
                         "ensemble: ask a member)")
    W = model.dense[0].W  # (784, h1)
    if W.shape[0] != SIDE * SIDE:
        raise ValueError(f"first layer takes {W.shape[0]} inputs, not 28x28 pixels")
    return np.ascontiguousarray(W.T).reshape(-1, SIDE, SIDE)


def normalise_tiles(tiles) -> np.ndarray:
    """Each tile divided by its own largest |value| (so every unit's pattern is visible,
    whatever the scale of its weights); all-zero tiles stay zero."""
    tiles = np.asarray(tiles, dtype=np.float64)
    m = np.abs(tiles).reshape(len(tiles), -1).max(axis=1)
    return tiles / np.where(m > 0, m, 1.0)[:, None, None]


def upscale(img: np.ndarray, k: int) -> np.ndarray:
    """Nearest-neighbour upscaling by an integer factor (crisp pixels, unlike a browser)."""
    img = np.asarray(img)
    return np.repeat(np.repeat(img, k, axis=0), k, axis=1)


def to_uint8(img) -> np.ndarray:
    """A float image in [0, 1] as uint8 pixels (how MNIST is stored). A digit as a row of
    784 pixels comes back (28, 28); any other image keeps its shape."""
    img = np.asarray(img, dtype=np.float64)
    if img.size == SIDE * SIDE and img.shape[-1] == SIDE * SIDE:
        img = img.reshape(SIDE, SIDE)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def saliency_overlay(image, grad, scale: int = 8, gamma: float = 0.8,
                     percentile: float = 99.0) -> np.ndarray:
    """An RGB picture (28*scale, 28*scale, 3) uint8: the digit in dim grey, pixels whose ink
    pushed the winning logit up in red, down in blue.

    Intensity ~ |grad| / (the `percentile` of the non-zero |grad|), clipped at 1: an MLP's
    input gradient is dense, and scaling by the single largest value would leave all but one
    pixel invisible.
    """
    image = np.asarray(image, dtype=np.float64).reshape(SIDE, SIDE)
    if image.max() > 1.0:
        image = image / 255.0
    g = np.asarray(grad, dtype=np.float64).reshape(SIDE, SIDE)
    mag = np.abs(g)[np.abs(g) > 0]
    m = float(np.percentile(mag, percentile)) if mag.size else 0.0
    g = np.clip(g / m, -1, 1) if m > 0 else g
    pos = np.clip(g, 0, 1) ** gamma
    neg = np.clip(-g, 0, 1) ** gamma
    base = 0.35 * image
    rgb = np.stack([base, base, base], axis=-1)  # (28, 28, 3)
    rgb[..., 0] += pos * (1 - rgb[..., 0])
    rgb[..., 1] *= 1 - 0.7 * np.maximum(pos, neg)
    rgb[..., 2] += neg * (1 - rgb[..., 2])
    rgb = np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)
    return upscale(rgb, scale)
