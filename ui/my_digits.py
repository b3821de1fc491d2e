"""This session's own handwriting (Draw page): drawings kept with the label the user gave.

Kept as 28x28 uint8 images (as MNIST stores digits) in
`st.session_state["my_digits"] = {"x": [uint8 (28, 28)], "y": [int]}`, at most
`limits.MAX_MY_DIGITS` of them: the server's memory is shared by every user.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from mnist.analysis.inside import to_uint8
from mnist.analysis.mydigits import read_my_digits
from mnist.data.dataset import Dataset
from mnist.errors import DatasetError
from ui import limits

KEY = "my_digits"


def _mine() -> dict:
    return st.session_state.setdefault(KEY, {"x": [], "y": []})


def count() -> int:
    return len(_mine()["y"])


def full() -> bool:
    return count() >= limits.MAX_MY_DIGITS


def add(image, label: int) -> int:
    """Keep a drawing (a float (28, 28) image in [0, 1]) with its label; returns how many
    digits the session keeps now."""
    mine = _mine()
    mine["x"].append(to_uint8(image))
    mine["y"].append(int(label))
    return len(mine["y"])


def load(raw: bytes, name: str) -> int:
    """Add the digits of an uploaded .npz (x, y): all of them or, past the cap, none
    (DatasetError saying so, as for a file it cannot read). Returns how many were added."""
    x, y = read_my_digits(raw, name)
    room = limits.MAX_MY_DIGITS - count()
    if len(y) > room:
        raise DatasetError(f"{name}: {len(y)} digits, but your set holds at most "
                           f"{limits.MAX_MY_DIGITS} ({room} more now); nothing was added")
    mine = _mine()
    mine["x"].extend(list(x))
    mine["y"].extend(int(v) for v in y)
    return len(y)


def arrays() -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 28, 28) uint8, labels (n,) int); call when count() > 0."""
    mine = _mine()
    return np.stack(mine["x"]), np.asarray(mine["y"])


def dataset() -> Dataset:
    """The digits as a Dataset (to score a model on them)."""
    return Dataset(*arrays(), "my digits")


def forget() -> None:
    st.session_state[KEY] = {"x": [], "y": []}
