"""The learning-rate range test's advice is a sentence of its own: the Search page shows it
after "Suggested range: **a to b**." and the CLI prints it on its own line (it read
"... 0.23**. the loss fell fastest ...")."""

import numpy as np

from mnist.training.lr_finder import _suggest


def test_every_suggestion_starts_a_sentence():
    lrs = list(np.logspace(-5, 1, 60))
    x = np.log10(lrs)
    curves = {
        "falls then rises": list(2.3 - 1.5 / (1 + np.exp(-(x + 2.5) * 3)) + np.maximum(x, 0) ** 2),
        "only rises": list(2.3 + np.maximum(x + 5, 0)),
        "too short": [2.3, 2.2, 2.1],
    }
    for name, smoothed in curves.items():
        message = _suggest(lrs[:len(smoothed)], smoothed)[3]
        assert message[0].isupper(), (name, message)
        assert not message.endswith("."), (name, message)  # the page adds the full stop
