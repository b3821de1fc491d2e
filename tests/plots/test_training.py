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


def test_epoch_text_counts_epochs_from_one_as_the_messages_do():
    assert training.epoch_text(0.0024, 10, 422) == "epoch 1 of 10, batch 1 of 422"
    assert training.epoch_text(1 / 422, None, 422) == "epoch 1, batch 1 of 422"
    assert training.epoch_text(3.0, 10) == "the end of epoch 3 of 10"
    assert training.epoch_text(3.5, 10) == "epoch 4 of 10 (50% of it done)"
    assert training.epoch_text(0.001, 10) == "epoch 1 of 10 (under 1% of it done)"
    assert training.epoch_text(0.0) == "the start"
    assert training.epoch_text(1 + 421 / 422, 2, 422) == "epoch 2 of 2, batch 421 of 422"
    recs = [dict(epoch=round(5 / 422, 6), step=5, status="running"),
            dict(epoch=1.0, step=422, status="done")]
    assert training.history_batches_per_epoch(recs) == 422


def test_the_x_range_follows_a_run_that_ended_early_and_lr_changes_are_marked():
    diverged = [dict(epoch=round(1 / 422, 6), step=1, train_loss=None, train_acc=None,
                     val_loss=None, val_acc=None, lr=100.0, status="diverged",
                     blowup_loss="inf")]
    fig = training.training_curves(diverged, epochs=10)
    lo, hi = fig.layout.xaxis.range
    assert lo == 0 and 1 / 422 < hi < 2 / 422  # not squeezed against 0 on a 0-10 axis
    (note,) = [a for a in fig.layout.annotations if "loss" in a.text]
    assert note.hovertext == "epoch 1, batch 1 of 422"
    running = [dict(r, status="running") for r in _records()[:2]]
    assert training.training_curves(running, epochs=10).layout.xaxis.range[1] >= 10
    change = dict(epoch=0.75, step=3, event="lr", lr=0.01, lr_before=0.1, status="running",
                  train_loss=None, train_acc=None, val_loss=None, val_acc=None)
    recs = _records()[:2] + [dict(_records()[1], epoch=2.0, status="done")]
    recs.insert(1, change)
    fig = training.training_curves(recs, epochs=2)
    assert [t.x for t in fig.data][:1] == [(0.5,)]  # the change is not a point of a curve
    dotted = [s for s in fig.layout.shapes if s.line.dash == "dot"]
    assert len(dotted) == 2 and all(s.x0 == 0.75 for s in dotted)  # both panels
    assert any(a.text.strip() == "lr 0.01" for a in fig.layout.annotations)
    # the train curve keeps its per-epoch points when the only fraction is the change's
    per_epoch = [dict(r, epoch=e) for r, e in zip(_records()[:2], (1, 2))]
    fig = training.training_curves(per_epoch[:1] + [change] + per_epoch[1:])
    assert list(fig.data[0].x) == [1, 2]
