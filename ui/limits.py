"""The app's caps, all in one place: what one server shared by every user lets a session do.

The machine is small and shared, so memory is rationed: the weights of a model a session may
train or keep, the models a session keeps, the drawings it keeps. (Cores are not rationed
here: every run waits its turn on the engine's worker pool, one worker per core.) Pages and
the rest of `ui` ask here; nothing else compares against these numbers.
"""

from __future__ import annotations

from mnist.errors import ConfigError

MAX_SESSION_MODELS = 12  # memory: the oldest trained models beyond this are forgotten
MAX_TRAIN_PARAMS = 5_000_000  # weights of one model in the app: with gradients and Adam's
                              # moments about 80 MB (float32) of the memory all users share
MAX_MY_DIGITS = 2000  # drawings a session keeps on the Draw page


def check_weights(what: str, n_params: int, error: type[Exception] = ConfigError) -> None:
    """Refuse a network over MAX_TRAIN_PARAMS weights, for training and for uploads alike:
    raises `error` saying "<what> has N weights" and what to do instead."""
    if n_params > MAX_TRAIN_PARAMS:
        raise error(f"{what} has {n_params:,} weights; the app trains and keeps networks of at "
                    f"most {MAX_TRAIN_PARAMS:,} (its memory is shared by every user). Use "
                    "smaller hidden layers, or train it with `python -m mnist train` on your "
                    "own machine.")
