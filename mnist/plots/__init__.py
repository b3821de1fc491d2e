"""Plotly figures built from plain data (arrays, lists of records); no Streamlit here.

Pages call these and hand the figure to `st.plotly_chart`. Every function takes numbers in and
returns a `plotly.graph_objects.Figure`, so the figures can be tested (traces, shapes) and
reused by the CLI or a notebook.

    style.py     the dark theme, the colours (train / validation / test / bad), `_layout`
    digits.py    the Dataset page: digit grid, one digit's pixels, class counts and means
    training.py  the Train page: training curves, confusion matrix, per-class accuracy, softmax
    search.py    a hyperparameter search: curves, accuracy vs learning rate, parallel coordinates
    analysis.py  the Mistakes, Draw and Inside pages: probabilities, mistakes, saliency, weights
    conv.py      a conv net's insides: feature maps and filters, one small image per channel

Import a figure from its module: `from mnist.plots.training import training_curves`.
"""
