"""The Train page's "about how long": a run's time from its network's work per digit and this
server's measured speed, without timing the run itself.

A digit's training work is counted from the layer shapes: a Dense layer's multiply-adds (its
weights), a conv layer's (its weights times its output's positions) plus its copies and
element-wise work. Dense and conv work run at different speeds, so each is measured once per
server on a small network of its kind (together under a second) and cached; any config's speed
follows from its two counts.
"""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from mnist.data.dataset import Dataset

from mnist.search.estimate import measure_speed, run_seconds
from mnist.training.config import TrainConfig

# the networks timed once per server: small, so each measurement takes well under a second
_REF = {"dense": TrainConfig(hidden=(128, 64), optimizer="adam", batch_size=64),
        "conv": TrainConfig(layers="conv8k3-pool-conv16k3-pool-64", optimizer="adam",
                            batch_size=64)}


# a conv layer's cost per digit in multiply-adds' worth: its multiply-adds, plus its im2col copy
# (one float per multiply-add of an output channel) and its output and pooling elements
# (activation, pooling and their gradients), weighted as fitted on five nets here (within 1.6x
# of the measured speed for all five, 20% for four); only the overall rate is measured
_COPY, _ELEMENT = 66.0, 85.0


def multiply_adds(cfg: TrainConfig) -> dict[str, float]:
    """{"dense": ..., "conv": ...}: one digit's forward work in each kind of layer, in
    multiply-adds (the conv part weighted as above)."""
    out = {"dense": 0.0, "conv": 0.0}
    for row in cfg.layer_shapes():
        if row.name.startswith("conv"):
            channels, positions = row.shape[0], math.prod(row.shape[1:])
            macs = (row.params - channels) * positions
            out["conv"] += macs + _COPY * macs / channels + _ELEMENT * channels * positions
        elif row.name.startswith("pool"):
            out["conv"] += _ELEMENT * math.prod(row.shape)
        elif row.params:
            out["dense"] += row.params
    return out


@st.cache_resource(show_spinner="Measuring this server's speed (once)...")
def _rates() -> dict[str, float]:
    """Multiply-adds per second of training, per kind of layer, measured on the _REF nets
    (the conv net's dense part is taken off at the dense rate)."""
    # the speed does not depend on what the digits show: random ones, without loading any
    rng = np.random.default_rng(0)
    train = Dataset(rng.integers(0, 256, (1000, 28, 28), dtype=np.uint8),
                    rng.integers(0, 10, 1000, dtype=np.uint8), "timing")
    dense = _REF["dense"]
    # the faster of two timings each: the other one met a busy core
    best = max(measure_speed(dense, train, n=1000) for _ in range(2))
    r_dense = multiply_adds(dense)["dense"] * best
    conv = _REF["conv"]
    work = multiply_adds(conv)
    per_digit = 1.0 / max(measure_speed(conv, train, n=300) for _ in range(2))
    conv_s = max(per_digit - work["dense"] / r_dense, 0.2 * per_digit)
    return {"dense": r_dense, "conv": work["conv"] / conv_s}


def samples_per_s(cfg: TrainConfig, rates: dict[str, float] | None = None) -> float:
    """Estimated training digits per second of `cfg` on one core."""
    rates = rates or _rates()
    work = multiply_adds(cfg)
    seconds = sum(work[k] / rates[k] for k in work)
    return 1.0 / max(seconds, 1e-9)


def run_estimate(cfg: TrainConfig, n_train: int) -> float:
    """Estimated seconds of the whole run (its epochs and validation passes)."""
    return run_seconds(cfg, n_train, samples_per_s(cfg))
