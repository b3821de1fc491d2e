"""The Train page's form: what each setting means, the widgets (keys `tr_*`) that show a
TrainConfig, and the TrainConfig they describe.

`draw(n_train)` lays the form out and returns the button pressed. The network is an MLP (hidden
sizes) or a CNN (a layer spec, shown with its parameter count and each layer's output shape);
the caption under the form estimates the run's time (ui.train_estimate). The widgets are kept
in step by callbacks: choosing a preset fills them all (its kind too), the learning-rate slider
and number show the one value `tr_lr`, the validation split is the Dataset page's. The setup also lives in the
URL (ui.links): a link opens the form filled in, and the address bar follows the form.
"""

from __future__ import annotations

import streamlit as st

from mnist.errors import ConfigError
from mnist.nn.activations import ACTIVATIONS
from mnist.nn.layers import INITS
from mnist.nn.losses import LOSSES
from mnist.nn.optim import OPTIMIZERS, SCHEDULES
from mnist.training.config import TrainConfig, parse_hidden
from mnist.training.presets import PRESETS
from ui import data, links, train_estimate, widgets

LR_STEPS = widgets.log_steps(-5, 1)  # the learning-rate slider's stops, 1e-5 to 10
QUICK_PRESET = "quick: 784-32-10 Adam, 5,000 digits, 3 epochs"
KINDS = ("MLP", "CNN")
DEFAULT_SPEC = "conv8k3-pool-conv16k3-pool-64"  # a small CNN: the layer box's first value
# the TrainConfig fields this form shows (a link may set these; others are reported)
LINK_FIELDS = {"hidden", "layers", "activation", "init", "loss", "optimizer", "lr", "momentum",
               "beta1", "beta2", "rho", "batch_size", "epochs", "schedule", "warmup_epochs",
               "step_size", "gamma", "min_lr", "weight_decay", "dropout", "subset",
               "val_fraction", "seed", "patience", "augment", "dtype"}
HELP = {
    "kind": "MLP: layers of units, each seeing every pixel. CNN: convolutional layers first "
            "(small filters slid over the image, each making a map of where its pattern is), "
            "pooling that halves the maps, then layers of units.",
    "layers": "The network from input to output, pieces joined by '-': conv<channels>k<kernel> "
              "(conv16k5: 16 filters of 5x5; conv16k5v without padding), pool (2x2 max "
              "pooling), or a number of units (a Dense layer). E.g. "
              "conv16k5-pool-conv32k5-pool-128.",
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
    "subset": "How many of the training digits to use: all of them by default, or a "
              "stratified sample (the same one for the same seed). A few thousand train in "
              "seconds. The validation share is held out of these.",
    "val": "Share of the training digits held out to validate on (0 = none). Same setting "
           "as the split on the Dataset page.",
    "seed": "Fixes the starting weights, the shuffling and dropout: same seed, same run.",
    "patience": "Stop when the validation loss has not improved for this many epochs "
                "(and keep the best weights); 0 = off.",
    "augment": "Each time a training digit is used, show a randomly changed copy: moved up to "
               "2.5 px, turned up to 12°, resized ±15%, slanted up to 12°, its stroke a little "
               "thicker or thinner, as drawings on a canvas vary. Slower to learn MNIST itself, "
               "better at reading your drawings.",
    "dtype": "float32 is fast; float64 is exact to more digits (and slower).",
    "full_batch": "One step per epoch on all training digits at once.",
    "lr_exact": "Type any value; the slider shows it too (as an extra stop).",
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
        tr_kind="CNN" if cfg.layers else "MLP",
        **({"tr_layers": cfg.layers} if cfg.layers else {}),  # an MLP keeps the typed spec
        tr_hidden=", ".join(str(h) for h in cfg.hidden), tr_activation=cfg.activation,
        tr_init=cfg.init, tr_loss=cfg.loss, tr_optimizer=cfg.optimizer, tr_lr=float(cfg.lr),
        tr_lr_slider=float(cfg.lr),
        tr_momentum=float(cfg.momentum), tr_beta1=float(cfg.beta1),
        tr_beta2=float(cfg.beta2), tr_rho=float(cfg.rho), tr_full_batch=full,
        tr_batch_size=int(cfg.batch_size) if cfg.batch_size else 128,
        tr_epochs=int(cfg.epochs), tr_schedule=cfg.schedule,
        tr_warmup=float(cfg.warmup_epochs), tr_step_size=int(cfg.step_size),
        tr_gamma=float(cfg.gamma), tr_min_lr=float(cfg.min_lr),
        tr_weight_decay=float(cfg.weight_decay), tr_dropout=float(cfg.dropout),
        tr_subset=min(int(sub), n_train) if sub else n_train, tr_seed=int(cfg.seed),
        tr_patience=int(cfg.patience or 0), tr_augment=bool(cfg.augment), tr_dtype=cfg.dtype,
    )


def config_from_form(n_train: int) -> TrainConfig:
    """A TrainConfig from the widgets; ConfigError says what is wrong."""
    s = st.session_state
    net = dict(hidden=parse_hidden(s.tr_hidden))
    if s.get("tr_kind") == "CNN":
        net = dict(hidden=(), layers=spec_config(s.get("tr_layers", "")).layers)
    cfg = TrainConfig(
        **net, activation=s.tr_activation, init=s.tr_init,
        loss=s.tr_loss, optimizer=s.tr_optimizer, lr=float(s.tr_lr),
        momentum=float(s.tr_momentum), beta1=float(s.tr_beta1), beta2=float(s.tr_beta2),
        rho=float(s.tr_rho), batch_size=None if s.tr_full_batch else int(s.tr_batch_size),
        epochs=int(s.tr_epochs), schedule=s.tr_schedule, warmup_epochs=float(s.tr_warmup),
        step_size=int(s.tr_step_size), gamma=float(s.tr_gamma),
        min_lr=min(float(s.tr_min_lr), float(s.tr_lr)),
        weight_decay=float(s.tr_weight_decay), dropout=float(s.tr_dropout),
        subset=int(s.tr_subset) if int(s.tr_subset) < n_train else None,
        val_fraction=data.val_fraction(), seed=int(s.tr_seed),
        patience=int(s.tr_patience) or None, augment=bool(s.tr_augment), dtype=s.tr_dtype)
    if cfg.val_fraction == 0 and cfg.patience:
        raise ConfigError("early stopping needs a validation set: set a validation fraction "
                          "above 0, or patience to 0")
    return cfg


def spec_config(text: str) -> TrainConfig:
    """The config of a layer spec alone (its shapes and parameter count); ConfigError says
    what is wrong with it."""
    if not str(text).strip():
        raise ConfigError(f"layers: write a layer spec, e.g. {DEFAULT_SPEC}")
    return TrainConfig(layers=text)


def presets() -> dict[str, tuple[TrainConfig, str]]:
    """Name -> (TrainConfig, note): mnist.training.presets by kind, the MLPs (its seconds-long
    "quick" starter first) then the CNNs, each under a name that says what it is."""
    def label(name, cfg):
        if name == "quick":
            return QUICK_PRESET
        return f"{name}: CNN {cfg.layers}" if cfg.layers else name
    ordered = sorted(PRESETS.items(), key=lambda item: bool(item[1][0].layers))
    return {label(name, p[0]): p for name, p in ordered}


def _show(cfg: TrainConfig, n_train: int) -> None:
    """Put `cfg` into the widgets (its split becomes the session's)."""
    for k, v in form_values(cfg, n_train).items():
        st.session_state[k] = v
    data.set_val_fraction(cfg.val_fraction)
    st.session_state["tr_val_fraction"] = cfg.val_fraction


def init_form(n_train: int) -> dict[str, tuple[TrainConfig, str]]:
    """At the top of every run: on the first visit a link's setup (the URL's query
    parameters) or else the first preset fills the form; values of widgets hidden in this run
    (Adam's betas under SGD) survive. Returns the presets."""
    offered = presets()
    if not st.session_state.get("_tr_link_read"):
        st.session_state["_tr_link_read"] = True
        params = st.query_params.to_dict()
        if links.has_setup(params):
            cfg, notes = links.from_query(params, fields=LINK_FIELDS)
            st.session_state["tr_preset"] = next(
                (name for name, (p, _) in offered.items() if p == cfg), next(iter(offered)))
            _show(cfg, n_train)
            st.session_state["_tr_link"] = dict(form=form_values(cfg, n_train), notes=notes,
                                                toasted=False)
    widgets.default("tr_preset", next(iter(offered)))
    widgets.keep_widget_state()
    widgets.default("tr_layers", DEFAULT_SPEC)
    for k, v in form_values(offered[st.session_state.tr_preset][0], n_train).items():
        widgets.default(k, v)
    # "all the digits" stays all of them when the data changes size (an upload, or back)
    seen = st.session_state.get("_tr_n_train", n_train)
    if int(st.session_state.tr_subset) >= seen or int(st.session_state.tr_subset) > n_train:
        st.session_state.tr_subset = n_train
    st.session_state["_tr_n_train"] = n_train
    st.session_state["tr_val_fraction"] = data.val_fraction()  # the Dataset page's split wins
    return offered


def changed_from_preset(cfg: TrainConfig, preset: TrainConfig) -> list[str]:
    """The settings in which the form differs from its preset (the split aside: the
    session's)."""
    a, b = links.to_query(cfg.replace(val_fraction=preset.val_fraction)), links.to_query(preset)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


# ---------------------------------------------------------------------------- callbacks
def load_preset(n_train: int) -> None:
    """The preset box changed: fill the form with the chosen preset."""
    _show(presets()[st.session_state.tr_preset][0], n_train)


def lr_options() -> list[float]:
    """The slider's stops: 1-2-5 per decade, plus the value in use (so a typed 0.04 or 50 is
    shown as it is, not as the nearest stop). `tr_lr` is the one value; the slider shows it."""
    lr = float(st.session_state.tr_lr)
    st.session_state.tr_lr_slider = lr
    return sorted(set(LR_STEPS) | {lr})


def lr_from_slider() -> None:
    st.session_state.tr_lr = float(st.session_state.tr_lr_slider)


def lr_from_number() -> None:
    st.session_state.tr_lr_slider = float(st.session_state.tr_lr)


def val_changed() -> None:
    data.set_val_fraction(st.session_state.tr_val_fraction)


# ---------------------------------------------------------------------------- the form
def draw(n_train: int, offered: dict, can_resume: bool) -> tuple[str | None, TrainConfig | None]:
    """Lay the form out. Returns (the button pressed: "start" | "resume" | None, the config
    the form describes, or None when it has a problem, shown at its place)."""
    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    c1.selectbox("Preset", list(offered), key="tr_preset", on_change=load_preset,
                 args=(n_train,), help="Ready-made settings: the tutorials' networks and a "
                 "good default. Choosing one fills the form; then change anything you like.")
    c2.caption(offered[st.session_state.tr_preset][1])

    kind = st.radio("Network", KINDS, key="tr_kind", horizontal=True, help=HELP["kind"])
    spec_problem = layer_box() if kind == "CNN" else None

    c1, c2, c3, c4, c5 = st.columns([1, 1, 1, 2, 1])
    if kind == "MLP":
        c1.text_input("Hidden layers", key="tr_hidden", help=HELP["hidden"])
    else:
        c1.caption("The layers are in the spec above.")
    c2.selectbox("Activation", list(ACTIVATIONS), key="tr_activation",
                 help=HELP["activation"])
    optimizer = c3.selectbox("Optimizer", list(OPTIMIZERS), key="tr_optimizer",
                             help=HELP["optimizer"])
    c4.select_slider("Learning rate (log scale)", lr_options(), key="tr_lr_slider",
                     format_func=lambda v: f"{v:g}", on_change=lr_from_slider,
                     help=HELP["lr"])
    c5.number_input("Learning rate (exact)", min_value=1e-7, max_value=100.0, key="tr_lr",
                    format="%.6g", step=None, on_change=lr_from_number,
                    help=HELP["lr_exact"])

    c1, c2, c3, c4, c5, c6 = st.columns(6, vertical_alignment="bottom")
    full = c1.checkbox("Full batch", key="tr_full_batch", help=HELP["full_batch"])
    c2.number_input("Batch size", 1, 100_000, key="tr_batch_size", step=16,
                    disabled=full, help=HELP["batch"])
    c3.number_input("Epochs", 1, 1000, key="tr_epochs", help=HELP["epochs"])
    c4.number_input("Train on (digits)", min(10, n_train), n_train, key="tr_subset",
                    step=1000, help=HELP["subset"] + f" All: {n_train:,}.")
    c5.number_input("Validation fraction", 0.0, 0.5, key="tr_val_fraction", step=0.05,
                    on_change=val_changed, help=HELP["val"])
    c6.number_input("Seed", 0, 2**32 - 1, key="tr_seed", help=HELP["seed"])

    with st.expander("More settings: initialisation, loss, optimizer details, schedule, "
                     "regularisation, early stopping", icon=":material/tune:"):
        _more_settings(optimizer)

    cfg = None
    try:
        cfg = config_from_form(n_train)
    except ConfigError as e:
        if str(e) != spec_problem:  # that one is shown under the spec box
            st.error(str(e), icon=":material/error:")
    if cfg is not None:
        used = f"all {n_train:,}" if cfg.subset is None else f"{cfg.subset:,} of {n_train:,}"
        changed = changed_from_preset(cfg, offered[st.session_state.tr_preset][0])
        arch = cfg.spec if cfg.layers else "-".join(map(str, cfg.sizes))
        st.caption(f"Architecture: {arch} · {cfg.n_params:,} parameters · training digits: "
                   f"{used} · {estimate_line(cfg, n_train)}"
                   + (f" · changed from the preset: {', '.join(changed)}" if changed else ""))
    c1, c2, c3 = st.columns([1, 1.6, 2])
    start = c1.button("Start training", type="primary", icon=":material/play_arrow:",
                      key="_tr_start", disabled=spec_problem is not None,
                      help="Train a new network with these settings.")
    resume = c2.button("Resume training the current model", icon=":material/replay:",
                       key="_tr_resume", disabled=not can_resume,
                       help="Continue training the current model (a copy of it; the original "
                            "stays) with these optimizer and data settings; its own "
                            "architecture is kept.")
    if cfg is not None:
        share(cfg, c3)
    return ("start" if start else "resume" if resume else None), cfg


def layer_box() -> str | None:
    """The CNN's layer spec: its box, then its parameter count and a table of each layer's
    output shape, or what is wrong with it (returned; Start waits for a good spec)."""
    c1, c2 = st.columns([3, 2])
    c1.text_input("Layer spec", key="tr_layers", help=HELP["layers"])
    try:
        spec = spec_config(st.session_state.tr_layers)
        rows = spec.layer_shapes()
    except ConfigError as e:
        c1.error(str(e), icon=":material/error:")
        return str(e)
    c1.caption(f"**{spec.n_params:,} parameters** (weights and biases). Input: one 28x28 "
               "image (1 channel); 'same' convolutions keep the map's size, a pool halves it.")
    lines = ["| layer | output shape | parameters |", "|---|---|---|",
             "| input | 1 x 28 x 28 | 0 |"]
    lines += [f"| {r.name} | {' x '.join(map(str, r.shape))} | {r.params:,} |" for r in rows]
    c2.markdown("\n".join(lines))
    return None


def estimate_line(cfg: TrainConfig, n_train: int) -> str:
    """'about 40 s on one core' for the run `cfg` describes."""
    try:
        seconds = train_estimate.run_estimate(cfg, n_train)
    except (ConfigError, ValueError, ZeroDivisionError):
        return "time: ?"
    return f"about {widgets.fmt_duration(seconds)} to train (estimated)"


def _more_settings(optimizer: str) -> None:
    c1, c2, c3, c4 = st.columns(4, vertical_alignment="bottom")
    c1.selectbox("Initialisation", list(INITS), key="tr_init", help=HELP["init"])
    c2.selectbox("Loss", list(LOSSES), key="tr_loss", help=HELP["loss"])
    c3.selectbox("Precision", ["float32", "float64"], key="tr_dtype", help=HELP["dtype"])
    c4.checkbox("Augment", key="tr_augment", help=HELP["augment"])
    c1, c2, c3, c4 = st.columns(4)
    if optimizer in ("momentum", "nesterov"):
        c1.slider("Momentum", 0.0, 0.99, key="tr_momentum", step=0.01, help=HELP["momentum"])
    elif optimizer == "adam":
        c1.slider("beta1", 0.0, 0.99, key="tr_beta1", step=0.01, help=HELP["beta1"])
        c2.slider("beta2", 0.9, 0.9999, key="tr_beta2", step=0.0001, format="%.4f",
                  help=HELP["beta2"])
    elif optimizer == "rmsprop":
        c1.slider("rho", 0.0, 0.99, key="tr_rho", step=0.01, help=HELP["rho"])
    else:
        c1.caption("Plain SGD has no extra settings.")
    c3.number_input("L2 weight decay", 0.0, 10.0, key="tr_weight_decay", format="%.6g",
                    step=1e-4, help=HELP["wd"])
    c4.slider("Dropout", 0.0, 0.9, key="tr_dropout", step=0.05, help=HELP["dropout"])
    c1, c2, c3, c4 = st.columns(4)
    schedule = c1.selectbox("LR schedule", list(SCHEDULES), key="tr_schedule",
                            help=HELP["schedule"])
    c2.number_input("Warm-up epochs", 0.0, 1000.0, key="tr_warmup", step=0.5,
                    help=HELP["warmup"])
    if schedule == "step":
        c3.number_input("Step every (epochs)", 1, 1000, key="tr_step_size",
                        help=HELP["step_size"])
        c3.number_input("gamma", 0.001, 1.0, key="tr_gamma", format="%.3f",
                        help=HELP["gamma"])
    elif schedule == "cosine":
        c3.number_input("Minimum learning rate", 0.0, 100.0, key="tr_min_lr",
                        format="%.6g", step=None, help=HELP["min_lr"])
    c4.number_input("Early-stop patience", 0, 1000, key="tr_patience", help=HELP["patience"])


# ---------------------------------------------------------------------------- the link
def share(cfg: TrainConfig, where) -> None:
    """Keep the address bar on this setup, and offer the link to copy (a teacher sends it;
    whoever opens it gets this form, in a session of their own)."""
    params = links.to_query(cfg)
    current = st.query_params.to_dict()
    mine = {k: v for k, v in current.items() if k not in links.FOREIGN}
    if mine != params:
        st.query_params.from_dict({**{k: v for k, v in current.items()
                                      if k in links.FOREIGN}, **params})
    with where.popover("Share this setup", icon=":material/link:"):
        st.markdown("**A link to this setup**: whoever opens it gets this form filled in "
                    "(in a session of their own). Copy it with the icon at its right.")
        st.code(links.share_url(st.context.url or "/train", params), language=None,
                wrap_lines=True)


def link_note() -> None:
    """After a link was opened: a toast once, and while the form still shows the link's setup,
    one line saying what of it could not be used (left at the defaults)."""
    link = st.session_state.get("_tr_link")
    if not link:
        return
    if not link["toasted"]:
        link["toasted"] = True
        st.toast("Opened the setup from the link.", icon=":material/link:")
    if link["notes"] and all(st.session_state.get(k) == v for k, v in link["form"].items()):
        st.info(links.note_line(link["notes"]), icon=":material/link_off:")
