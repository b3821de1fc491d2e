"""mnist.plots.digits: each figure of the digits has the traces, shapes and values its data
says."""

import numpy as np
import plotly.graph_objects as go

import mnist
from mnist.analysis import explore
from mnist.plots import digits


def _mnist():
    return mnist.load_mnist()


def test_digit_grid_one_image_and_a_clickable_marker_per_digit():
    train, _ = _mnist()
    idx = explore.pick_indices(train, "by index", 100, start=7)
    mos, labels = explore.grid(train, idx)
    fig = digits.digit_grid(mos, labels, indices=idx)
    heat, markers, text = fig.data
    assert isinstance(heat, go.Heatmap) and np.asarray(heat.z).shape == mos.shape == (302, 302)
    assert list(markers.customdata) == list(range(7, 107))
    assert list(text.text) == [str(int(v)) for v in train.labels[7:107]]
    # marker k sits on the centre of digit k
    k = 23
    r, c = divmod(k, 10)
    y0, x0 = 2 + r * 30, 2 + c * 30
    assert x0 <= markers.x[k] <= x0 + 27 and y0 <= markers.y[k] <= y0 + 27


def test_digit_heatmap_shows_the_pixel_values():
    img = np.arange(784, dtype=np.int64).reshape(28, 28) % 256
    fig = digits.digit_heatmap(img.astype(np.uint8), title="x")
    (h,) = fig.data
    np.testing.assert_array_equal(np.asarray(h.z), img)
    np.testing.assert_array_equal(np.asarray(h.text), img)
    assert tuple(fig.layout.yaxis.range) == (27.5, -0.5)  # row 0 at the top


def test_class_distribution_mean_images_and_histogram():
    train, test = _mnist()
    fig = digits.class_distribution({"train": explore.class_counts(train),
                                    "test": explore.class_counts(test)})
    assert [t.name for t in fig.data] == ["train", "test"]
    assert sum(fig.data[0].y) == 60000 and sum(fig.data[1].y) == 10000
    means = explore.class_means(test)
    fig = digits.mean_images(means)
    (strip,) = fig.data  # one image: the ten means side by side
    z = np.asarray(strip.z)
    assert z.shape == (32, 2 + 10 * 30)
    np.testing.assert_allclose(z[2:30, 2 + 3 * 30:2 + 3 * 30 + 28], means[3], rtol=1e-6)
    assert list(fig.layout.xaxis.ticktext) == [str(i) for i in range(10)]
    hist = explore.pixel_histogram(test)
    fig = digits.pixel_histogram(hist)
    assert len(fig.data[0].y) == 256 and fig.layout.yaxis.type == "log"
