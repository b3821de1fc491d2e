"""The facts about MNIST that every layer shares: image size, class count, pixel scale.

Defined once here (below the data layer, next to `mnist.errors`) so the readers, the network's
fast path, the analysis and the figures agree without importing each other.
"""

import numpy as np

SIDE = 28  # an image is SIDE x SIDE pixels
PIXELS = SIDE * SIDE  # 784: the length of one image as a row
N_CLASSES = 10  # the digits 0-9
SCALE = np.float32(1 / 255)  # uint8 pixels -> [0, 1]; one constant so every path agrees bit for bit
