"""This session's own handwriting (Draw page): drawings kept with the label the user gave,
and fine-tuning on them, reported honestly.

Kept as 28x28 uint8 images (as MNIST stores digits) in
`st.session_state["my_digits"] = {"x": [uint8 (28, 28)], "y": [int]}`, at most
`limits.MAX_MY_DIGITS` of them: the server's memory is shared by every user.

A model fine-tuned on these digits reads them back almost perfectly (it learned them), so its
score "on your digits" counts only the digits it did not train on: cross-validated over the
ones it trained on (`mnist.analysis.mydigits.held_out_accuracy`), and the digits added since.
What each fine-tuned model trained on is kept in `st.session_state["my_digits_tuned"]`.
Fine-tuning trains, so it runs on the worker pool like every run (`start_fine_tune`).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from mnist.analysis.inside import to_uint8
from mnist.analysis.mydigits import read_my_digits
from mnist.data.dataset import Dataset
from mnist.engine import job as engine_job
from mnist.errors import DatasetError
from mnist.training.config import TrainConfig
from mnist.training.metrics import score
from ui import limits, session, studies
from ui.pool_jobs import PoolJob

KEY = "my_digits"
TUNED = "my_digits_tuned"  # model name -> held_out_accuracy(...) (n: it trained on the first n)


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
    st.session_state.pop(TUNED, None)  # no model trained on the digits that come next


# ---------------------------------------------------------------------------- fine-tuning
DONE = "draw_tuned_msg"  # what to tell the user once it has ended: (kind, text)


def start_fine_tune(entry) -> None:
    """Queue the fine-tuning of `entry`'s model on all my digits on the worker pool, like
    every run (a worker fine-tunes it, and fine-tunes it again without each part of the
    digits to see how it carries over to digits it did not train on); with a free worker,
    wait a little for it so the result shows at once."""
    xs, ys = arrays()

    def make(pool):
        job = engine_job.start_fine_tune(entry.model, xs, ys, data=studies.data_key(),
                                         owner=studies.owner(), pool=pool,
                                         storage=studies.storage())
        job.entry_name, job.n = entry.name, len(ys)
        job.before = score(entry.model, dataset())["test_acc"]  # digits it never trained on
        job.test_before = entry.metrics.get("test_acc")
        return job

    TUNE.start(make)


def _collect(job) -> None:
    """The fine-tuned model joins the session (made current); what to tell the user."""
    figures = job.fine_tune
    tuned = session.add_model(f"fine-tuned: {job.entry_name}", job.model, "fine-tuned",
                              config=TrainConfig.from_dict(figures["config"]),
                              history=figures["history"], note=f"on {job.n} of your digits")
    held = figures["held"]
    st.session_state.setdefault(TUNED, {})[tuned.name] = held  # held['n']: all of them
    msg = f"**{tuned.name}** is now the current model. "
    if held["accuracy"] is not None:
        msg += (f"On your digits it did not train on: **{held['accuracy']:.0%}** (was "
                f"{job.before:.0%} before fine-tuning; {_how(held)}). ")
    if tuned.metrics.get("test_acc") is not None and job.test_before is not None:
        msg += (f"Test accuracy {tuned.metrics['test_acc']:.2%} (was {job.test_before:.2%}).")
    st.session_state[DONE] = ("success", msg)


def _problem(text: str) -> None:
    st.session_state[DONE] = ("error", text)


TUNE = PoolJob("_draw_tune_job", "fine-tune", wait_s=30.0, cancel_key="draw_tune_cancel",
               running="Fine-tuning in a worker, then checking it on digits it did not train "
                       "on ...", icon=":material/school:", collect=_collect, problem=_problem)


def _how(held: dict) -> str:
    k = held["folds"]
    if k == held["n"]:
        return f"leave-one-out: {k} more fine-tunes, each without one digit, read it"
    return (f"{k}-fold cross-validation: {k} more fine-tunes, each without a {k}th of the "
            "digits, read that part")


def show_score(entry) -> None:
    """The current model on my digits, counting only digits it did not train on."""
    n = count()
    rec = st.session_state.get(TUNED, {}).get(entry.name)
    if rec is None or rec["n"] > n:  # it never trained on these digits
        acc = score(entry.model, dataset())["test_acc"]
        st.metric(f"{entry.name} on your digits", f"{acc:.0%}",
                  f"{int(round(acc * n))} of {n} right", delta_color="off", delta_arrow="off",
                  help="It never trained on them: a fair test of your handwriting.")
        return
    if rec["accuracy"] is not None:
        st.metric("On your digits it did not train on", f"{rec['accuracy']:.0%}",
                  f"{rec['right']} of {rec['n']} right, held out", delta_color="off",
                  delta_arrow="off",
                  help=f"A model reads the digits it trained on back almost perfectly, so "
                       f"that says little. This counts each digit only when read by a "
                       f"fine-tune that did not see it ({_how(rec)}).")
    xs, ys = arrays()
    seen = score(entry.model, Dataset(xs[:rec["n"]], ys[:rec["n"]], "trained on"))["test_acc"]
    lines = [f"On the {rec['n']} digits it trained on: {seen:.0%} (it learned them)."]
    if n > rec["n"]:
        new = score(entry.model, Dataset(xs[rec["n"]:], ys[rec["n"]:], "added since"))
        m = n - rec["n"]
        lines.append(f"On the {m} digit{'s' * (m != 1)} added since: {new['test_acc']:.0%} "
                     "(not trained on).")
    st.caption(" ".join(lines))
