"""mnist.analysis.mydigits: the user's digits saved and read back, the fine-tuning mix, and
fine-tuning that learns them without touching the original model."""

import numpy as np
import pytest

from mnist import MLP, Dataset, DatasetError
from mnist.analysis import mydigits
from mnist.training.metrics import score


# ------------------------------------------------------------------------------ my digits
def test_my_digits_roundtrip_and_errors():
    imgs = np.random.default_rng(0).integers(0, 256, (3, 28, 28)).astype(np.uint8)
    blob = mydigits.my_digits_npz(imgs, [1, 7, 9])
    x, y = mydigits.read_my_digits(blob)
    np.testing.assert_array_equal(x, imgs)
    assert y.tolist() == [1, 7, 9]
    with pytest.raises(DatasetError):
        mydigits.read_my_digits(b"not an npz")
    with pytest.raises(DatasetError, match="labels"):
        mydigits.my_digits_npz(imgs, [1, 2])


def _toy_train(n=600, seed=0):
    """A labelled toy set where class k is a bright bar in row band k (learnable fast)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n).astype(np.uint8)
    x = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
    for i, k in enumerate(y):
        x[i, 2 + 2 * k:4 + 2 * k, 4:24] = 255
    return Dataset(x, y, "toy")


def test_finetune_dataset_mix():
    train = _toy_train()
    imgs = np.zeros((2, 28, 28), np.uint8)
    ds = mydigits.finetune_dataset(imgs, [3, 5], train, n_mnist=100, repeat=4, seed=0)
    assert len(ds) == 2 * 4 + 100
    assert np.sum(ds.labels[:8] == 3) == 4 and np.sum(ds.labels[:8] == 5) == 4
    # the MNIST part is a stratified sample of the training set
    counts = np.bincount(ds.labels[8:], minlength=10)
    expect = np.bincount(train.labels, minlength=10) * 100 / len(train)
    assert np.all(np.abs(counts - expect) <= 1)
    with pytest.raises(DatasetError, match="empty"):
        mydigits.finetune_dataset(np.zeros((0, 28, 28), np.uint8), [], train)
    # repeat=None: the user's digits make `share` of the mix
    ds = mydigits.finetune_dataset(imgs, [3, 5], train, n_mnist=380, repeat=None, share=0.05)
    assert len(ds) == 2 * 10 + 380  # ceil(0.05 * 380 / (0.95 * 2)) = 10 copies each


def test_fine_tune_learns_my_digits_and_keeps_original():
    train = _toy_train()
    model = MLP((784, 32, 10), seed=0)
    before = model.state_dict()
    # "my handwriting": class 0 drawn as a vertical bar, which the model never saw
    mine = np.zeros((4, 28, 28), np.uint8)
    mine[:, 4:24, 12:15] = 255
    labels = np.zeros(4, np.uint8)
    new, cfg, history = mydigits.fine_tune(model, mine, labels, train, steps=120, batch_size=32,
                                     lr=3e-3, n_mnist=300, repeat=20, seed=0)
    assert history[-1]["status"] == "done"
    assert score(new, Dataset(mine, labels, "mine"))["test_acc"] == 1.0
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])  # original untouched
    assert new is not model and cfg.val_fraction == 0.0
    s = score(model, Dataset(np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8), "none"))
    assert s["n"] == 0 and s["test_acc"] is None
