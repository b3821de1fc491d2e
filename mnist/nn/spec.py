"""Layer specs: a network described by a plain string, checked, measured and built.

    "conv16k5-pool-conv32k5-pool-128"   two conv blocks, then a Dense layer of 128 units
    "128-64"                             the MLP 784-128-64-10

Pieces, separated by "-" (or commas, spaces):

- `conv<out>k<k>`: Conv2D with `out` channels and a k x k kernel, padding "same" (the map
  keeps its size); `conv<out>k<k>v` pads nothing ("valid": the map shrinks by k - 1).
- `pool`: MaxPool2D(2), halving the map; `pool<s>` pools s x s windows.
- a number: a Dense hidden layer of that many units.

Every conv and Dense hidden layer is followed by the config's activation (and Dense hidden
layers by dropout, if any), as in the MLP. Convolutions and pooling come first and see the
1 x 28 x 28 image; a Flatten goes in before the first Dense layer; the output layer (10
units) and the loss come from the model, as for the MLP. So a spec of numbers alone is
exactly the MLP of those hidden sizes, layer for layer and draw for draw.

A spec is a string so it can sit in a config, a JSON file and a text box. Three steps here:
`parse_spec` (syntax and order), `layer_shapes` (each layer's output shape and parameter
count, which also catches kernels too big for the map and pooling a 1 x 1 map), and
`build_layers` (the layers, through the LAYERS registry). `check_limits` holds the sizes a
config or a model file may ask for. Errors are ConfigErrors whose message starts with
"layers:" and names the piece at fault.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

import numpy as np

from mnist.errors import ConfigError
from mnist.nn.conv import Conv2D
from mnist.nn.layers import LAYERS
from mnist.nn.pool import Flatten, MaxPool2D

# The image layers register here, next to the grammar that names them (conv.py and pool.py
# stay free of the registry's import).
LAYERS.setdefault("conv2d", Conv2D)
LAYERS.setdefault("maxpool2d", MaxPool2D)
LAYERS.setdefault("flatten", Flatten)

IMAGE = (1, 28, 28)  # what the first conv or pool sees: the (N, 784) pixels reshaped
N_CLASSES = 10

MAX_UNITS = 4096  # Dense units per layer
MAX_DENSE = 10  # Dense hidden layers
MAX_CHANNELS = 1024  # conv output channels
MAX_IMAGE_LAYERS = 20  # conv and pool pieces
MAX_PARAMS = 160_000_000  # the largest MLP the hidden sizes allow (10 x 4096) fits

_CONV = re.compile(r"conv(\d+)k(\d+)([sv]?)")
_POOL = re.compile(r"pool(\d*)")
_HELP = ("write conv<channels>k<kernel> (e.g. conv16k5; conv16k5v for no padding), pool, "
         "or a number of units")


class Piece(NamedTuple):
    """One parsed piece: kind "conv" (n = channels, k = kernel, padding), "pool" (k = window)
    or "dense" (n = units)."""

    kind: str
    n: int = 0
    k: int = 0
    padding: str = "same"

    @property
    def token(self) -> str:
        """The piece as written in a canonical spec."""
        if self.kind == "conv":
            return f"conv{self.n}k{self.k}" + ("v" if self.padding == "valid" else "")
        if self.kind == "pool":
            return "pool" if self.k == 2 else f"pool{self.k}"
        return str(self.n)


class LayerShape(NamedTuple):
    """A row of `layer_shapes`: the piece's name, its output shape (without the batch) and
    its number of parameters (weights and biases)."""

    name: str
    shape: tuple
    params: int


def parse_spec(spec) -> tuple[Piece, ...]:
    """The pieces of a spec string (or of a sequence of Dense sizes, as `hidden` holds them);
    ConfigError names a piece that is not a layer or comes in the wrong place."""
    if isinstance(spec, (tuple, list)):
        if all(isinstance(p, Piece) for p in spec):
            return tuple(spec)  # parsed already
        spec = "-".join(str(s) for s in spec)
    if not isinstance(spec, str):
        raise ConfigError(f"layers must be a layer spec like 'conv16k5-pool-128', got {spec!r}")
    text = spec.strip().lower()
    if text in ("", "none", "-"):
        return ()
    pieces = []
    for token in re.split(r"[-,;\s]+", text):
        if not token:
            continue
        if token.isdigit():
            pieces.append(Piece("dense", int(token)))
        elif m := _CONV.fullmatch(token):
            pad = "valid" if m[3] == "v" else "same"
            pieces.append(Piece("conv", int(m[1]), int(m[2]), pad))
        elif m := _POOL.fullmatch(token):
            pieces.append(Piece("pool", 0, int(m[1]) if m[1] else 2))
        else:
            raise ConfigError(f"layers: {token!r} is not a layer; {_HELP}")
        piece = pieces[-1]
        if (piece.n < 1 and piece.kind != "pool") or (piece.kind != "dense" and piece.k < 1):
            raise ConfigError(f"layers: {token!r} has a size of 0; sizes start at 1")
        if piece.kind != "dense" and any(p.kind == "dense" for p in pieces[:-1]):
            raise ConfigError(f"layers: {token!r} comes after a Dense layer; convolutions and "
                              "pooling come first, then the Dense layers")
    return tuple(pieces)


def canonical(spec) -> str:
    """The spec written the one standard way ('Conv16K5 - pool2, 128' -> 'conv16k5-pool-128')."""
    return "-".join(p.token for p in parse_spec(spec))


def is_dense(spec) -> bool:
    """True when the spec has no conv or pool: the network is an MLP."""
    return all(p.kind == "dense" for p in parse_spec(spec))


def dense_units(spec) -> tuple[int, ...]:
    """The Dense hidden sizes of a spec: `hidden` for an MLP."""
    return tuple(p.n for p in parse_spec(spec) if p.kind == "dense")


def layer_shapes(spec, input_shape=IMAGE, n_classes: int = N_CLASSES) -> list[LayerShape]:
    """Each layer's (name, output shape, parameters), input to output: the conv and pool
    pieces, "flatten" (when the input is an image), the Dense pieces and "output".

    A spec of Dense layers alone reads the input as a flat vector. ConfigError when a kernel
    does not fit the map it meets or a pool meets a map smaller than its window.
    """
    pieces = parse_spec(spec)
    shape = tuple(int(s) for s in input_shape)
    if all(p.kind == "dense" for p in pieces):
        shape = (math.prod(shape),)
    elif len(shape) != 3:
        raise ConfigError(f"layers: conv and pool need images (C, H, W), not inputs {shape}")
    rows = []
    for p in pieces:
        if p.kind == "dense" and len(shape) > 1:
            shape = (math.prod(shape),)
            rows.append(LayerShape("flatten", shape, 0))
        if p.kind == "conv":
            C, H, W = shape
            if p.k > min(H, W):
                raise ConfigError(f"layers: {p.token} has a {p.k}x{p.k} kernel but the map is "
                                  f"{H}x{W} at that point; use a kernel of at most {min(H, W)}")
            grow = p.k - 1 if p.padding == "same" else 0
            shape = (p.n, H + grow - p.k + 1, W + grow - p.k + 1)
            rows.append(LayerShape(p.token, shape, p.n * C * p.k * p.k + p.n))
        elif p.kind == "pool":
            C, H, W = shape
            if min(H, W) < p.k:
                raise ConfigError(f"layers: {p.token} cannot pool a {H}x{W} map (its windows "
                                  f"are {p.k}x{p.k}); remove a pool or pool earlier")
            shape = (C, H // p.k, W // p.k)
            rows.append(LayerShape(p.token, shape, 0))
        else:
            rows.append(LayerShape(p.token, (p.n,), shape[0] * p.n + p.n))
            shape = (p.n,)
    if len(shape) > 1:
        shape = (math.prod(shape),)
        rows.append(LayerShape("flatten", shape, 0))
    rows.append(LayerShape("output", (n_classes,), shape[0] * n_classes + n_classes))
    return rows


def check_limits(spec, input_shape=IMAGE, n_classes: int = N_CLASSES) -> list[LayerShape]:
    """`layer_shapes`, also refusing sizes beyond what the lab trains (a config) or loads (a
    model file): units, channels, layer counts and the total number of parameters."""
    pieces = parse_spec(spec)
    for p in pieces:
        if p.kind == "dense" and p.n > MAX_UNITS:
            raise ConfigError(f"layers: {p.token} has more than {MAX_UNITS} units")
        if p.kind == "conv" and p.n > MAX_CHANNELS:
            raise ConfigError(f"layers: {p.token} has more than {MAX_CHANNELS} channels")
    if sum(p.kind == "dense" for p in pieces) > MAX_DENSE:
        raise ConfigError(f"layers: at most {MAX_DENSE} Dense hidden layers")
    if sum(p.kind != "dense" for p in pieces) > MAX_IMAGE_LAYERS:
        raise ConfigError(f"layers: at most {MAX_IMAGE_LAYERS} conv and pool layers")
    rows = layer_shapes(pieces, input_shape, n_classes)
    total = sum(r.params for r in rows)
    if total > MAX_PARAMS:
        biggest = max(rows, key=lambda r: r.params)
        raise ConfigError(f"layers: {total:,} parameters is more than {MAX_PARAMS:,} "
                          f"({biggest.name} alone has {biggest.params:,})")
    return rows


def param_shapes(spec, input_shape=IMAGE, n_classes: int = N_CLASSES) -> dict[str, tuple]:
    """{"0.W": shape, "0.b": shape, ...} as the built network's state_dict will have them,
    without building it (a model file is checked before anything is allocated)."""
    pieces = parse_spec(spec)
    rows = layer_shapes(pieces, input_shape, n_classes)
    shapes, i = {}, 0
    below = tuple(input_shape) if any(p.kind != "dense" for p in pieces) \
        else (math.prod(input_shape),)
    for row, piece in zip(rows, [*_with_flatten(pieces, below), None]):
        if row.params:
            if piece is not None and piece.kind == "conv":
                shapes[f"{i}.W"] = (piece.n, below[0], piece.k, piece.k)
            else:
                shapes[f"{i}.W"] = (below[0], row.shape[0])
            shapes[f"{i}.b"] = (row.shape[0],)
            i += 1
        below = row.shape
    return shapes


def _with_flatten(pieces, input_shape):
    """The pieces with None where layer_shapes puts its "flatten" row."""
    image = len(input_shape) > 1
    for p in pieces:
        if p.kind == "dense" and image:
            image = False
            yield None
        yield p
    if image:
        yield None


def build_layers(spec, input_shape=IMAGE, n_classes: int = N_CLASSES, activation="relu",
                 init="he", dropout=0.0, rng=None, dtype=np.float32) -> list:
    """The layers of a spec, input to output, their weights drawn from `rng` in that order
    (for a Dense-only spec exactly the MLP's layers and draws)."""
    pieces = parse_spec(spec)
    rows = layer_shapes(pieces, input_shape, n_classes)
    layers = []
    below = tuple(input_shape) if any(p.kind != "dense" for p in pieces) \
        else (math.prod(input_shape),)
    for row, piece in zip(rows, [*_with_flatten(pieces, below), None]):
        if row.name == "flatten":
            layers.append(LAYERS["flatten"]())
        elif row.name == "output":
            layers.append(LAYERS["dense"](below[0], n_classes, init, rng, dtype))
        elif piece.kind == "conv":
            layers.append(LAYERS["conv2d"](below[0], piece.n, piece.k, piece.padding, init, rng,
                                           dtype))
            layers.append(LAYERS["activation"](activation))
        elif piece.kind == "pool":
            layers.append(LAYERS["maxpool2d"](piece.k))
        else:
            layers.append(LAYERS["dense"](below[0], piece.n, init, rng, dtype))
            layers.append(LAYERS["activation"](activation))
            if dropout > 0:
                layers.append(LAYERS["dropout"](dropout, rng))
        below = row.shape
    return layers


def working_floats(spec, input_shape=IMAGE) -> list[int]:
    """Per image, the numbers each conv layer's pass holds at once (its padded input, its
    patches matrix and its output): what bounds the rows of a chunk for conv nets. Dense,
    pool and flatten layers hold far less and are left out."""
    pieces = parse_spec(spec)
    if all(p.kind == "dense" for p in pieces):
        return []
    out, shape = [], tuple(input_shape)
    for row, piece in zip(layer_shapes(pieces, input_shape), pieces):
        if piece.kind == "conv":
            C, H, W = shape
            _, Ho, Wo = row.shape
            pad = piece.k - 1 if piece.padding == "same" else 0
            out.append((H + pad) * (W + pad) * C + (piece.k * piece.k * C + 1 + piece.n) * Ho * Wo)
        if piece.kind == "dense":
            break
        shape = row.shape
    return out
