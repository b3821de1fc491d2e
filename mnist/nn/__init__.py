"""The network in NumPy: layers, networks built from layer specs, losses, optimizers, ensembles.

Users may write `mnist.nn.Conv2D`, `mnist.nn.Dense`, ...; modules inside `mnist/` import from
the defining module (`from mnist.nn.conv import Conv2D`).
"""

from mnist.nn.conv import Conv2D
from mnist.nn.ensemble import Ensemble
from mnist.nn.layers import LAYERS, Activation, Dense, Dropout
from mnist.nn.model import MLP, Network, build_network
from mnist.nn.pool import Flatten, MaxPool2D
from mnist.nn.spec import layer_shapes, parse_spec

__all__ = ["Activation", "Conv2D", "Dense", "Dropout", "Ensemble", "Flatten", "LAYERS", "MLP",
           "MaxPool2D", "Network", "build_network", "layer_shapes", "parse_spec"]
