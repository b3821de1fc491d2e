"""mnist.plots: each figure has the traces, shapes and values its data says."""

import numpy as np
import plotly.graph_objects as go

import mnist
from mnist.analysis import explore
import mnist.plots as plots


def _mnist():
    return mnist.load_mnist()


def test_digit_grid_one_image_and_a_clickable_marker_per_digit():
    train, _ = _mnist()
    idx = explore.pick_indices(train, "by index", 100, start=7)
    mos, labels = explore.grid(train, idx)
    fig = plots.digit_grid(mos, labels, indices=idx)
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
    fig = plots.digit_heatmap(img.astype(np.uint8), title="x")
    (h,) = fig.data
    np.testing.assert_array_equal(np.asarray(h.z), img)
    np.testing.assert_array_equal(np.asarray(h.text), img)
    assert tuple(fig.layout.yaxis.range) == (27.5, -0.5)  # row 0 at the top


def test_class_distribution_mean_images_and_histogram():
    train, test = _mnist()
    fig = plots.class_distribution({"train": explore.class_counts(train),
                                    "test": explore.class_counts(test)})
    assert [t.name for t in fig.data] == ["train", "test"]
    assert sum(fig.data[0].y) == 60000 and sum(fig.data[1].y) == 10000
    means = explore.class_means(test)
    fig = plots.mean_images(means)
    (strip,) = fig.data  # one image: the ten means side by side
    z = np.asarray(strip.z)
    assert z.shape == (32, 2 + 10 * 30)
    np.testing.assert_allclose(z[2:30, 2 + 3 * 30:2 + 3 * 30 + 28], means[3], rtol=1e-6)
    assert list(fig.layout.xaxis.ticktext) == [str(i) for i in range(10)]
    hist = explore.pixel_histogram(test)
    fig = plots.pixel_histogram(hist)
    assert len(fig.data[0].y) == 256 and fig.layout.yaxis.type == "log"


def _records():
    return [dict(epoch=0.5, train_loss=1.0, train_acc=0.6, val_loss=None, val_acc=None,
                 lr=0.1, status="running"),
            dict(epoch=1.0, train_loss=0.5, train_acc=0.8, val_loss=0.6, val_acc=0.75, lr=0.1,
                 status="running"),
            dict(epoch=1.5, train_loss=float("inf"), train_acc=0.1, val_loss=None,
                 val_acc=None, lr=0.1, status="diverged")]


def test_training_curves_train_and_validation_and_divergence_marker():
    fig = plots.training_curves(_records(), epochs=3)
    names = [(t.name, t.xaxis) for t in fig.data]
    assert names == [("train", "x"), ("validation", "x"), ("train", "x2"), ("validation", "x2")]
    train_loss = fig.data[0]
    # intra-epoch windows only (the epoch's closing average is left out of the train curve)
    assert list(train_loss.x) == [0.5, 1.5]
    assert train_loss.y[0] == 1.0 and train_loss.y[1] is None  # inf: a gap
    per_epoch = plots.training_curves([dict(r, epoch=e) for r, e in zip(_records(), (1, 2, 3))])
    assert list(per_epoch.data[0].x) == [1, 2, 3]
    assert list(fig.data[1].x) == [1.0]  # validation only at the epoch's end
    assert any(s.type == "line" and s.x0 == 1.5 for s in fig.layout.shapes)
    assert any(a.text.strip() == "diverged" for a in fig.layout.annotations)
    assert len(plots.training_curves([]).data) == 0
    # the value that blew up is shown with an arrow out of the top of the loss panel
    for blowup, label in ((3.2e20, "loss → 3.2e+20"), ("inf", "loss → inf")):
        recs = _records()
        recs[-1]["blowup_loss"] = blowup
        notes = plots.training_curves(recs).layout.annotations
        assert any(a.text.strip() == label and a.showarrow for a in notes)


def test_confusion_per_class_and_softmax_heatmap():
    cm = np.array([[5, 1] + [0] * 8] + [[0] * 10] * 9)
    fig = plots.confusion_heatmap(cm)
    np.testing.assert_array_equal(np.asarray(fig.data[0].text), cm)
    acc = [0.9, float("nan")] + [1.0] * 8
    fig = plots.per_class_accuracy(acc)
    assert fig.data[0].y[1] is None and fig.data[0].y[0] == 0.9
    probs = np.eye(10, dtype=np.float32)[[7, 1, 3]]
    fig = plots.softmax_heatmap(probs, labels=[7, 2, 3], indices=[0, 1, 2])
    (h,) = fig.data
    np.testing.assert_array_equal(np.asarray(h.z), probs)
    assert list(h.y) == ["#0: true 7, said 7 (ok)", "#1: true 2, said 1 (WRONG)",
                         "#2: true 3, said 3 (ok)"]
