"""The Train page's form: what each setting means, the widget values (keys `tr_*`) that show a
TrainConfig, and the TrainConfig the widgets describe.

The page lays the widgets out; this module maps them to and from a config and keeps them in
step (a preset fills them all, the learning-rate slider and number follow each other, the
validation split is the Dataset page's).
"""

from __future__ import annotations

import streamlit as st

from mnist.errors import ConfigError
from mnist.training.config import TrainConfig, parse_hidden
from mnist.training.presets import PRESETS
from ui import data, widgets

LR_STEPS = widgets.log_steps(-5, 1)  # the learning-rate slider's stops, 1e-5 to 10
QUICK_PRESET = "quick: 784-32-10 Adam, 5,000 digits, 3 epochs"
HELP = {
    "hidden": "Sizes of the hidden layers, comma separated: '128, 64' builds 784-128-64-10. "
              "Empty: no hidden layer (a linear classifier).",
    "activation": "The non-linearity after each hidden layer. relu: max(0, z), the usual "
                  "choice; sigmoid/tanh: the classic S-curves (slower to train deep).",
    "init": "How the starting weights are drawn. he: for ReLU; xavier: for sigmoid/tanh; "
            "uniform: U(-0.5, 0.5) as in some tutorials; normal001: N(0, 0.01^2), tiny.",
    "loss": "cross_entropy: softmax + log loss (the standard); mse: squared error on the "
            "one-hot target (as in Nielsen's first chapters).",
    "optimizer": "sgd: plain gradient steps; momentum / nesterov: steps keep some speed; "
                 "rmsprop / adam: per-weight step sizes from gradient statistics.",
    "lr": "The step size. Too small: slow; too large: the loss jumps around or blows up. "
          "Typical: 0.1 for SGD, 0.001 for Adam.",
    "batch": "Digits per gradient step. Small: noisy but many steps per epoch; full batch: "
             "one exact gradient step per epoch (classic gradient descent).",
    "epochs": "Passes over the training digits.",
    "schedule": "How the learning rate changes: constant; step (times gamma every few "
                "epochs); cosine (smoothly down to the minimum).",
    "warmup": "Epochs over which the learning rate ramps up from 0 at the start.",
    "wd": "L2 weight decay: pulls every weight towards 0 a little each step (regularisation).",
    "dropout": "Share of hidden units switched off at random during training "
               "(regularisation); 0 turns it off.",
    "subset": "Train on this many digits (a stratified sample); 0 = all of them. Small "
              "subsets train in seconds.",
    "val": "Share of the training digits held out to validate on (0 = none). Same setting "
           "as the split on the Dataset page.",
    "seed": "Fixes the starting weights, the shuffling and dropout: same seed, same run.",
    "patience": "Stop when the validation loss has not improved for this many epochs "
                "(and keep the best weights); 0 = off.",
    "augment": "Shift / rotate the training digits a little at random each time they are "
               "used.",
    "dtype": "float32 is fast; float64 is exact to more digits (and slower).",
    "full_batch": "One step per epoch on all training digits at once.",
    "lr_exact": "Type any value; the slider follows to the nearest step.",
    "momentum": "How much of the previous step carries over (0.9 is usual).",
    "beta1": "Adam's averaging of the gradient (momentum); 0.9 is usual.",
    "beta2": "Adam's averaging of the squared gradient; 0.999 is usual.",
    "rho": "RMSProp's averaging of the squared gradient; 0.9 is usual.",
    "step_size": "Multiply the learning rate by gamma every this many epochs.",
    "gamma": "The factor applied at each step (0.1 = ten times smaller).",
    "min_lr": "Where the cosine curve ends (at most the learning rate).",
}


def form_values(cfg: TrainConfig, n_train: int) -> dict:
    """The widget values (keys tr_*) that show `cfg`, for a training set of `n_train`."""
    full = not cfg.batch_size or cfg.batch_size >= n_train
    sub = cfg.subset
    if isinstance(sub, float):
        sub = int(round(sub * n_train))
    return dict(
        tr_hidden=", ".join(str(h) for h in cfg.hidden), tr_activation=cfg.activation,
        tr_init=cfg.init, tr_loss=cfg.loss, tr_optimizer=cfg.optimizer, tr_lr=float(cfg.lr),
        tr_lr_slider=widgets.nearest_log_step(cfg.lr, LR_STEPS),
        tr_momentum=float(cfg.momentum), tr_beta1=float(cfg.beta1),
        tr_beta2=float(cfg.beta2), tr_rho=float(cfg.rho), tr_full_batch=full,
        tr_batch_size=int(cfg.batch_size) if cfg.batch_size else 128,
        tr_epochs=int(cfg.epochs), tr_schedule=cfg.schedule,
        tr_warmup=float(cfg.warmup_epochs), tr_step_size=int(cfg.step_size),
        tr_gamma=float(cfg.gamma), tr_min_lr=float(cfg.min_lr),
        tr_weight_decay=float(cfg.weight_decay), tr_dropout=float(cfg.dropout),
        tr_subset=int(sub or 0), tr_seed=int(cfg.seed), tr_patience=int(cfg.patience or 0),
        tr_augment=bool(cfg.augment), tr_dtype=cfg.dtype,
    )


def config_from_form(n_train: int) -> TrainConfig:
    """A TrainConfig from the widgets; ConfigError says what is wrong."""
    s = st.session_state
    cfg = TrainConfig(
        hidden=parse_hidden(s.tr_hidden), activation=s.tr_activation, init=s.tr_init,
        loss=s.tr_loss, optimizer=s.tr_optimizer, lr=float(s.tr_lr),
        momentum=float(s.tr_momentum), beta1=float(s.tr_beta1), beta2=float(s.tr_beta2),
        rho=float(s.tr_rho), batch_size=None if s.tr_full_batch else int(s.tr_batch_size),
        epochs=int(s.tr_epochs), schedule=s.tr_schedule, warmup_epochs=float(s.tr_warmup),
        step_size=int(s.tr_step_size), gamma=float(s.tr_gamma),
        min_lr=min(float(s.tr_min_lr), float(s.tr_lr)),
        weight_decay=float(s.tr_weight_decay), dropout=float(s.tr_dropout),
        subset=int(s.tr_subset) if 0 < int(s.tr_subset) < n_train else None,
        val_fraction=data.val_fraction(), seed=int(s.tr_seed),
        patience=int(s.tr_patience) or None, augment=bool(s.tr_augment), dtype=s.tr_dtype)
    if cfg.val_fraction == 0 and cfg.patience:
        raise ConfigError("early stopping needs a validation set: set a validation fraction "
                          "above 0, or patience to 0")
    return cfg


def presets() -> dict[str, tuple[TrainConfig, str]]:
    """Name -> (TrainConfig, note): mnist.training.presets, its seconds-long "quick" starter
    first, under a name that says what it is."""
    return {QUICK_PRESET if name == "quick" else name: p for name, p in PRESETS.items()}


def init_form(n_train: int) -> dict[str, tuple[TrainConfig, str]]:
    """At the top of every run: on the first visit the first preset fills the form; values
    of widgets hidden in this run (Adam's betas under SGD) survive. Returns the presets."""
    offered = presets()
    widgets.default("tr_preset", next(iter(offered)))
    widgets.keep_widget_state()
    for k, v in form_values(offered[st.session_state.tr_preset][0], n_train).items():
        widgets.default(k, v)
    st.session_state["tr_val_fraction"] = data.val_fraction()  # the Dataset page's split wins
    return offered


# ---------------------------------------------------------------------------- callbacks
def load_preset(n_train: int) -> None:
    """Fill the form with the chosen preset (its split becomes the session's)."""
    cfg = presets()[st.session_state.tr_preset][0]
    for k, v in form_values(cfg, n_train).items():
        st.session_state[k] = v
    data.set_val_fraction(cfg.val_fraction)
    st.session_state["tr_val_fraction"] = cfg.val_fraction


def lr_from_slider() -> None:
    st.session_state.tr_lr = float(st.session_state.tr_lr_slider)


def lr_from_number() -> None:
    lr = st.session_state.tr_lr
    if lr and lr > 0:
        st.session_state.tr_lr_slider = widgets.nearest_log_step(lr, LR_STEPS)


def val_changed() -> None:
    data.set_val_fraction(st.session_state.tr_val_fraction)
