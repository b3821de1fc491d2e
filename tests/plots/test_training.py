"""mnist.plots.training: each figure of a training run has the traces, shapes and values its
data says."""

import numpy as np

from mnist.plots import training


def _records():
    return [dict(epoch=0.5, train_loss=1.0, train_acc=0.6, val_loss=None, val_acc=None,
                 lr=0.1, status="running"),
            dict(epoch=1.0, train_loss=0.5, train_acc=0.8, val_loss=0.6, val_acc=0.75, lr=0.1,
                 status="running"),
            dict(epoch=1.5, train_loss=float("inf"), train_acc=0.1, val_loss=None,
                 val_acc=None, lr=0.1, status="diverged")]


def test_training_curves_train_and_validation_and_divergence_marker():
    fig = training.training_curves(_records(), epochs=3)
    names = [(t.name, t.xaxis) for t in fig.data]
    assert names == [("train", "x"), ("validation", "x"), ("train", "x2"), ("validation", "x2")]
    train_loss = fig.data[0]
    # intra-epoch windows only (the epoch's closing average is left out of the train curve)
    assert list(train_loss.x) == [0.5, 1.5]
    assert train_loss.y[0] == 1.0 and train_loss.y[1] is None  # inf: a gap
    per_epoch = training.training_curves([dict(r, epoch=e)
                                          for r, e in zip(_records(), (1, 2, 3))])
    assert list(per_epoch.data[0].x) == [1, 2, 3]
    assert list(fig.data[1].x) == [1.0]  # validation only at the epoch's end
    assert any(s.type == "line" and s.x0 == 1.5 for s in fig.layout.shapes)
    assert any(a.text.strip() == "diverged" for a in fig.layout.annotations)
    assert len(training.training_curves([]).data) == 0
    # the value that blew up is shown with an arrow out of the top of the loss panel
    for blowup, label in ((3.2e20, "loss → 3.2e+20"), ("inf", "loss → inf")):
        recs = _records()
        recs[-1]["blowup_loss"] = blowup
        notes = training.training_curves(recs).layout.annotations
        assert any(a.text.strip() == label and a.showarrow for a in notes)


def test_confusion_per_class_and_softmax_heatmap():
    cm = np.array([[5, 1] + [0] * 8] + [[0] * 10] * 9)
    fig = training.confusion_heatmap(cm)
    np.testing.assert_array_equal(np.asarray(fig.data[0].text), cm)
    acc = [0.9, float("nan")] + [1.0] * 8
    fig = training.per_class_accuracy(acc)
    assert fig.data[0].y[1] is None and fig.data[0].y[0] == 0.9
    probs = np.eye(10, dtype=np.float32)[[7, 1, 3]]
    fig = training.softmax_heatmap(probs, labels=[7, 2, 3], indices=[0, 1, 2])
    (h,) = fig.data
    np.testing.assert_array_equal(np.asarray(h.z), probs)
    assert list(h.y) == ["#0: true 7, said 7 (ok)", "#1: true 2, said 1 (WRONG)",
                         "#2: true 3, said 3 (ok)"]
