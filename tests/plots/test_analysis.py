"""Figures of the Mistakes page: the confusion matrix writes every non-zero count exactly once
(the diagonal was written twice, one number on top of another) and is clickable per cell."""

import numpy as np
import plotly.graph_objects as go

from mnist.plots import analysis


def test_confusion_cells_write_each_count_once():
    cm = np.array([[50, 1, 0], [0, 70, 2], [3, 0, 90]])
    fig = analysis.confusion_cells(cm, selected=(2, 0))
    texts = [np.asarray(t.text, dtype=str) for t in fig.data if isinstance(t, go.Heatmap)]
    written = sum((t != "").astype(int) for t in texts)
    np.testing.assert_array_equal(written, (cm > 0).astype(int))
    shown = np.where(texts[0] != "", texts[0], texts[1])
    np.testing.assert_array_equal(shown[cm > 0].astype(int), cm[cm > 0])
    (cells,) = [t for t in fig.data if t.name == "cells"]
    assert sorted(map(tuple, cells.customdata)) == [(a, b) for a in range(3) for b in range(3)]
    assert fig.layout.shapes[0].x0 == -0.5 and fig.layout.shapes[0].y0 == 1.5
