"""The Search page's form: what to compare, read from the widgets into a plan for the engine.

    plan = draw_form(n_train, val_fraction)   # draws the widgets (keys "sr_...")
    plan.study      # create_study's arguments: a space + base + sampler, or a preset's configs
    plan.configs    # the runs (a grid, a preset), or representative draws for an estimate
    plan.problem    # None, or why it cannot start (a bad value, too many weights)

A preset is a grid or a list of variants (mnist.search.presets); a custom search varies the
fields the user picks over a grid (every combination), or draws them from ranges at random or
with TPE (Optuna's Bayesian sampler, which draws where the runs so far did best). Any of them
can be pruned: successive halving or Hyperband stop the worse runs after whole epochs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from mnist.errors import ConfigError
from mnist.nn.activations import ACTIVATIONS
from mnist.nn.layers import INITS
from mnist.nn.optim import OPTIMIZERS
from mnist.search.presets import SEARCH_PRESETS
from mnist.search.space import FIELDS, MAX_RUNS, OFFERED, grid, sample, space_from_form
from mnist.training.config import TrainConfig, parse_hidden
from ui import limits, widgets

CUSTOM = "Custom search"
FLAGSHIP = "four-learning-rates"
PRESET_TITLES = {p.title: k for k, p in SEARCH_PRESETS.items()}
SAMPLER_NAMES = {"grid": "Grid", "random": "Random", "tpe": "TPE (Bayesian)"}
PRUNER_NAMES = {"none": "None: every run trains all its epochs",
                "halving": "Successive halving", "hyperband": "Hyperband"}
MAX_SEARCH_EPOCHS = 50  # epochs per run on the app's shared server
VAL_PER_EPOCH = 8  # validations an epoch: the curves show learning's shape within an epoch
VALUE_HELP = {
    "hidden": "Layer sizes as 128x64.",
    "layers": "Layer specs, comma separated, each spec's pieces joined by '-': 128-64 is an MLP, "
              "conv8k3-pool-conv16k3-pool-64 a CNN (conv<channels>k<kernel>, pool, Dense "
              "units). Paired runs of different specs draw their weights from the same seed and "
              "see the same batches in the same order, but an MLP and a CNN cannot share "
              "weights: their shapes differ. A spec replaces the hidden layers above.",
}
# the network a custom search starts from (the widgets' first values)
NET_DEFAULTS = TrainConfig(hidden=(128, 64), activation="relu", init="he", optimizer="sgd",
                           lr=0.05, batch_size=32, epochs=3, seed=0)


@dataclass
class Plan:
    """What the form describes (see the module docstring)."""

    title: str
    study: dict = field(default_factory=dict)
    configs: list = field(default_factory=list)
    drawn: bool = False  # True: the sampler draws the runs as they start (random, TPE)
    problem: str | None = None


def defaults(n_train: int) -> dict:
    """The widgets' first values (also what a link's bad parameters fall back to)."""
    return {"sr_preset": SEARCH_PRESETS[FLAGSHIP].title, "sr_epochs": NET_DEFAULTS.epochs,
            "sr_subset": min(10_000, n_train), "sr_paired": True, "sr_pruner": "none",
            "sr_sampler": "grid", "sr_vary": ["lr"], "sr_trials": 8,
            "sr_hidden": ", ".join(map(str, NET_DEFAULTS.hidden)),
            "sr_activation": NET_DEFAULTS.activation, "sr_init": NET_DEFAULTS.init,
            "sr_optimizer": NET_DEFAULTS.optimizer, "sr_lr": NET_DEFAULTS.lr,
            "sr_batch": NET_DEFAULTS.batch_size}


def draw_form(n_train: int, val_fraction: float) -> Plan:
    """Draw the form and read it (see the module docstring)."""
    for key, value in defaults(n_train).items():
        widgets.default(key, value)
    if not min(1000, n_train) <= st.session_state["sr_subset"] <= n_train:  # data changed
        st.session_state["sr_subset"] = min(10_000, n_train)
    choice = st.selectbox("Start from", [*PRESET_TITLES, CUSTOM], key="sr_preset",
                          help="A ready-made comparison, or your own search.")
    c = st.columns([1, 1, 2])
    epochs = c[0].number_input(
        "Epochs per run", 1, MAX_SEARCH_EPOCHS, key="sr_epochs",
        help="The budget of each run. A few epochs show the differences already.")
    subset = c[1].number_input(
        "Digits per run", min(1000, n_train), n_train, step=1000, key="sr_subset",
        help="Each run trains on the same stratified sample of this many training digits "
             f"(a share is held out to validate on). All: {n_train:,}.")
    pruner = c[2].selectbox(
        "Stop the worse runs early (pruner)", list(PRUNER_NAMES), key="sr_pruner",
        format_func=PRUNER_NAMES.get,
        help="Successive halving: after epochs 1, 2, 4, ... only the better half of the runs "
             "that got there go on, so the budget goes to the promising ones. Hyperband runs "
             "several such brackets, some more patient than others.")
    paired = st.checkbox("Paired: identical starting weights and batch order for every run",
                         key="sr_paired",
                         help="Off: each run gets its own seed (shows run-to-run luck as well). "
                              "Runs of different layer specs (an MLP and a CNN) cannot share "
                              "weights, but on they draw them from the same seed and see the "
                              "same batches in the same order.")
    budget = dict(epochs=int(epochs), subset=None if subset >= n_train else int(subset),
                  val_fraction=val_fraction)
    plan = Plan(title=choice)
    try:
        if choice != CUSTOM:
            preset = SEARCH_PRESETS[PRESET_TITLES[choice]]
            st.info(preset.note, icon=":material/science:")
            base = preset.base.replace(**budget)
            if preset.space:
                plan.study = dict(space=preset.space, base=base, sampler="grid", paired=paired)
            else:
                plan.study = dict(configs=preset.configs(paired, **budget))
            plan.configs = preset.configs(paired, **budget)
        else:
            _custom(plan, budget, paired)
        plan.study.update(pruner=pruner, val_per_epoch=VAL_PER_EPOCH)
        biggest = max(plan.configs, key=lambda cfg: cfg.n_params)
        limits.check_weights(_network(biggest), biggest.n_params)
        if pruner != "none" and int(epochs) < 2:
            st.caption("A pruner compares the runs after whole epochs: with 1 epoch there is "
                       "nothing to prune.")
    except ConfigError as e:
        plan.problem, plan.configs = str(e), []
    return plan


def _network(cfg: TrainConfig) -> str:
    """A network as the weight check names it: an MLP's sizes (784-128-64-10), a CNN's spec."""
    return cfg.layers or "-".join(map(str, cfg.sizes))


def _custom(plan: Plan, budget: dict, paired: bool) -> None:
    """The custom search's widgets -> plan.study and plan.configs (ConfigError names a bad
    value)."""
    s = st.session_state
    with st.container(border=True):
        st.markdown("**The network every run starts from**")
        c = st.columns(6)
        c[0].text_input("Hidden layers", key="sr_hidden")
        c[1].selectbox("Activation", list(ACTIVATIONS), key="sr_activation")
        c[2].selectbox("Initialisation", list(INITS), key="sr_init")
        c[3].selectbox("Optimizer", list(OPTIMIZERS), key="sr_optimizer")
        c[4].number_input("Learning rate", 1e-6, 10.0, format="%g", key="sr_lr")
        c[5].number_input("Batch size", 1, 4096, key="sr_batch")
        m1, m2 = st.columns([1, 2])
        sampler = m1.radio(
            "How", list(SAMPLER_NAMES), key="sr_sampler", horizontal=True,
            format_func=SAMPLER_NAMES.get,
            help="Grid: every combination of the listed values. Random: N draws from ranges "
                 "(log-uniform for learning rate and weight decay), which covers more values "
                 "for the same budget. TPE: the first draws at random, then each new run "
                 "where the runs so far did best (Optuna's Tree-structured Parzen Estimator).")
        fields = m2.multiselect("Vary", list(OFFERED), key="sr_vary",
                                format_func=lambda f: FIELDS[f].label)
        drawn = sampler != "grid"
        for f in fields:
            label, kind, rng = FIELDS[f].label, FIELDS[f].kind, FIELDS[f].range
            if not drawn or rng is None:
                widgets.default(f"sr_grid_{f}", FIELDS[f].grid)
                st.text_input(f"{label}: values, comma separated", key=f"sr_grid_{f}",
                              help=VALUE_HELP.get(f))
            else:
                num = float if kind == "float" else int
                widgets.default(f"sr_lo_{f}", num(rng[0]))
                widgets.default(f"sr_hi_{f}", num(rng[1]))
                r1, r2 = st.columns(2)
                fmt, step = ("%g", None) if kind == "float" else ("%d", 1)  # ints stay ints
                r1.number_input(f"{label}: from", key=f"sr_lo_{f}", format=fmt, step=step)
                r2.number_input(f"{label}: to", key=f"sr_hi_{f}", format=fmt, step=step)
        if drawn:
            st.number_input("Runs to draw", 1, MAX_RUNS, key="sr_trials")
    base = TrainConfig(hidden=parse_hidden(s["sr_hidden"]), activation=s["sr_activation"],
                       init=s["sr_init"], optimizer=s["sr_optimizer"], lr=float(s["sr_lr"]),
                       batch_size=int(s["sr_batch"]), seed=0).replace(**budget)
    space = space_from_form(fields, drawn,
                            values={f: s.get(f"sr_grid_{f}", "") for f in fields},
                            ranges={f: (s.get(f"sr_lo_{f}"), s.get(f"sr_hi_{f}"))
                                    for f in fields})
    plan.title = (f"{SAMPLER_NAMES[sampler].split(' ')[0]} search over "
                  + ", ".join(FIELDS[f].label for f in fields))
    if not drawn:
        plan.configs = grid(space, base, paired=paired)
        plan.study = dict(space=space, base=base, sampler="grid", paired=paired)
    else:
        trials = int(s["sr_trials"])
        plan.configs = sample(space, trials, seed=0, base=base, paired=paired)
        for f in ("hidden", "layers"):  # every network it may draw
            for v in getattr(space.get(f), "options", ()):
                cfg = base.replace(**{f: v})
                limits.check_weights(_network(cfg), cfg.n_params)
        plan.study = dict(space=space, base=base, sampler=sampler, trials=trials, paired=paired)
        plan.drawn = True
