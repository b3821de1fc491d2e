"""mnist.analysis.mydigits.held_out_accuracy: the Draw page's "on your digits" figure after a
fine-tune counts only digits the fine-tuned network did not train on."""

import numpy as np

import mnist
from mnist.analysis import mydigits
from tests.page_helpers import small_model

STEPS = dict(steps=60, n_mnist=2000)  # small fine-tunes: the test is about who reads what


def test_leave_one_out_is_each_digit_read_by_a_fine_tune_without_it():
    model = small_model(0)[0]
    train, test = mnist.load_mnist()
    x, y = test.images[:5], test.labels[:5]
    res = mydigits.held_out_accuracy(model, x, y, train, folds=5, **STEPS)
    assert res["folds"] == 5 and res["n"] == 5
    order = np.random.default_rng(0).permutation(5)
    right = 0
    for i in order:  # slow reference: one fine-tune per digit, on the other four
        others = [j for j in range(5) if j != i]
        tuned = mydigits.fine_tune(model, x[others], y[others], train, seed=0, **STEPS)[0]
        right += int(tuned.predict(x[i:i + 1].reshape(1, -1) / 255.0)[0] == y[i])
    assert res["right"] == right and res["accuracy"] == right / 5


def test_digits_it_trained_on_are_not_counted():
    """Random labels: a fine-tune learns them (reads its own digits back well) but cannot
    guess the label of a digit it did not see: the held-out figure stays near chance."""
    model = small_model(0)[0]
    train, test = mnist.load_mnist()
    x = test.images[:12]
    y = (test.labels[:12] + np.random.default_rng(1).integers(1, 10, 12)) % 10  # all wrong
    fast = dict(lr=2e-3)  # the small test network needs a bigger step to learn them
    tuned = mydigits.fine_tune(model, x, y, train, seed=0, **fast)[0]
    seen = float(np.mean(tuned.predict(x.reshape(12, -1) / 255.0) == y))
    held = mydigits.held_out_accuracy(model, x, y, train, folds=4, **fast)
    assert held["folds"] == 4 and held["n"] == 12
    assert seen >= 0.9 and held["accuracy"] <= 0.25, (seen, held)


def test_fewer_than_two_digits_have_nothing_to_hold_out():
    model = small_model(0)[0]
    train, test = mnist.load_mnist()
    res = mydigits.held_out_accuracy(model, test.images[:1], test.labels[:1], train)
    assert res == dict(accuracy=None, right=0, n=1, folds=0)
