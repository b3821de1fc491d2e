"""Plotly figures built from plain data (arrays, lists of records); no Streamlit here.

Pages call these and hand the figure to `st.plotly_chart`. Every function takes numbers in and
returns a `plotly.graph_objects.Figure`, so the figures can be tested (traces, shapes) and
reused by the CLI or a notebook.

    style.py     the dark theme, the colours (train / validation / test / bad), `_layout`
    digits.py    the Dataset page: digit grid, one digit's pixels, class counts and means
    training.py  the Train page: training curves, confusion matrix, per-class accuracy, softmax
    search.py    a hyperparameter search: curves, accuracy vs learning rate, parallel coordinates
    analysis.py  the Mistakes, Draw and Inside pages: probabilities, mistakes, saliency, weights

The figure functions of digits.py and training.py are re-exported here for users
(`mnist.plots.training_curves`); code imports them from their own module.
"""

from mnist.plots.digits import (class_distribution, digit_grid, digit_heatmap, mean_images,
                                pixel_histogram)
from mnist.plots.style import (BAD_COLOR, CLASSES, GREYS, TEMPLATE, TEST_COLOR, TRAIN_COLOR,
                               VAL_COLOR)
from mnist.plots.training import (confusion_heatmap, per_class_accuracy, softmax_heatmap,
                                  training_curves)

__all__ = [
    "class_distribution", "digit_grid", "digit_heatmap", "mean_images", "pixel_histogram",
    "confusion_heatmap", "per_class_accuracy", "softmax_heatmap", "training_curves",
    "BAD_COLOR", "CLASSES", "GREYS", "TEMPLATE", "TEST_COLOR", "TRAIN_COLOR", "VAL_COLOR",
]
