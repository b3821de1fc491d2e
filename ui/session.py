"""This session's models: the bundled ones, and those trained, uploaded, picked from a search,
fine-tuned or ensembled here, with their scores on this session's test set.

`st.session_state["models"]` maps a name to a `ModelEntry`; `"current_model"` names the one
every page uses. A model is an MLP, a conv net or an ensemble of them (ui/ensemble.py makes
those): pages describe it through the entry (`architecture`, `describe()`, `members()`), never
through one kind's attributes. A new model joins through one function, `add_model`: it builds
the entry, scores it (unless its scores come with it), adds it under a unique name and makes
it current. Only the bundled models enter differently: first in the list (the MLP, then the
CNN when models/cnn.npz is there), scored once per server.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import streamlit as st

import mnist
from mnist.errors import ConfigError, ModelFileError
from mnist.training.config import TrainConfig
from mnist.training.metrics import score
from ui import cache, limits
from ui.data import active_data, data_token
from ui.widgets import page_link

BUNDLED_NAME = "bundled model"  # the MLP, models/default.npz
BUNDLED_CNN_NAME = "bundled CNN"  # models/cnn.npz, when it is there
SOURCES = ("bundled", "trained", "uploaded", "search", "fine-tuned", "ensemble")


def model_architecture(model) -> str:
    """A model's shape in one line: "784-128-64-10" for an MLP, its layer spec for a conv net
    ("conv16k5-pool-conv32k5-pool-128"), the members' joined by " + " for an ensemble."""
    kind = getattr(model, "kind", "mlp")
    if kind == "ensemble":
        return " + ".join(model_architecture(m) for m in model.members)
    if kind == "mlp":
        return "-".join(str(s) for s in (model.n_inputs, *model.spec.split("-"),
                                          model.n_classes) if s != "")
    return model.spec


@dataclass
class ModelEntry:
    """A model this session knows: the network plus how it came to be."""

    name: str
    model: object  # an MLP, a Network (conv net) or an Ensemble
    config: TrainConfig | None = None
    history: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)  # at least test_acc, test_loss
    source: str = "trained"  # bundled | trained | uploaded | search | fine-tuned | ensemble
    note: str = ""

    @property
    def kind(self) -> str:
        """"mlp", "cnn" or "ensemble"."""
        return getattr(self.model, "kind", "mlp")

    @property
    def architecture(self) -> str:
        return model_architecture(self.model)

    @property
    def activation(self) -> str:
        """The activation between layers; an ensemble's members may differ: how it answers."""
        if self.kind == "ensemble":
            return f"mean of {len(self.model.members)} models' probabilities"
        return self.model.activation

    def describe(self) -> str:
        bits = [self.architecture, self.activation]
        if self.config is not None:
            bits.append(f"{self.config.optimizer} lr {self.config.lr:g}")
        return ", ".join(bits)

    def members(self) -> list[dict]:
        """An ensemble's members: [{name, architecture, kind, test_acc (None if unknown)}]
        (empty for a single network)."""
        if self.kind != "ensemble":
            return []
        out = []
        for name, m in zip(self.model.names, self.model.members):
            acc = (getattr(m, "meta", None) or {}).get("metrics", {}).get("test_acc")
            out.append(dict(name=name, architecture=model_architecture(m), kind=m.kind,
                            test_acc=acc if isinstance(acc, (int, float)) else None))
        return out

    @property
    def file_stem(self) -> str:
        """The name made safe for a download's file name."""
        return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.name)[:60]

    def config_json(self) -> str:
        """The TrainConfig that made it, as JSON (just its architecture when unknown)."""
        if self.config is not None:
            return self.config.to_json(indent=2)
        return json.dumps(dict(architecture=self.model.architecture()), indent=2)


def _config_from_meta(meta: dict) -> TrainConfig | None:
    cfg = (meta or {}).get("config")
    if not isinstance(cfg, dict):
        return None
    try:
        return TrainConfig.from_dict(cfg)
    except (ConfigError, TypeError, ValueError):
        return None


def _bundled_entry(name: str) -> ModelEntry | None:
    """The shared bundled MLP or CNN as this session's entry (None when its file is not
    there)."""
    cnn = name == BUNDLED_CNN_NAME
    model = cache.cnn_model() if cnn else cache.default_model()
    if model is None:
        return None
    saved = model.meta.get("metrics") or {}
    if isinstance(saved.get("test_acc"), float) and isinstance(saved.get("test_loss"), float):
        metrics = dict(test_acc=saved["test_acc"], test_loss=saved["test_loss"])  # on MNIST
    else:  # an older file without its scores: measure them (once per server)
        sc = cache.cnn_score() if cnn else cache.default_score()
        metrics = dict(test_acc=sc["test_acc"], test_loss=sc["test_loss"])
    return ModelEntry(name, model, _config_from_meta(model.meta),
                      list(model.meta.get("history") or []), metrics, "bundled",
                      "pretrained, shipped with the app")


def models() -> dict[str, ModelEntry]:
    """This session's models, name -> ModelEntry (the bundled ones first, when they exist)."""
    ms = st.session_state.setdefault("models", {})
    if st.session_state.get("_bundled_removed"):
        return ms
    missing = [n for n in (BUNDLED_NAME, BUNDLED_CNN_NAME) if n not in ms]
    added = {n: e for n in missing if (e := _bundled_entry(n)) is not None}
    if added:
        bundled = {n: added.get(n) or ms.get(n) for n in (BUNDLED_NAME, BUNDLED_CNN_NAME)}
        st.session_state["models"] = ms = {**{n: e for n, e in bundled.items() if e},
                                           **ms}
        st.session_state.setdefault("current_model", next(iter(added)))
    return ms


def unique_name(base: str) -> str:
    ms = st.session_state.setdefault("models", {})
    if base not in ms:
        return base
    k = 2
    while f"{base} ({k})" in ms:
        k += 1
    return f"{base} ({k})"


def add_model(name: str, model, source: str = "trained", *, config: TrainConfig | None = None,
              history=(), note: str = "", scores: dict | None = None,
              scored_on: str | None = None) -> ModelEntry:
    """The one way a new model joins this session. Returns its ModelEntry.

    Builds the entry under a unique name based on `name`, gives it its test scores, adds it
    and makes it current; beyond MAX_SESSION_MODELS the oldest non-bundled, non-current models
    are forgotten (with a toast naming them). `scores` is the model's `metrics.score` when it
    is already known (a training job scores its model in the background), computed on the
    data whose `data_token()` is `scored_on` (default: this session's data now); without
    `scores` the model is scored here, on this session's test set.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r} (known: {', '.join(SOURCES)})")
    if scores is None:
        scores, scored_on = score(model, active_data()[1]), data_token()
    entry = ModelEntry(unique_name(name), model, config, list(history),
                       dict(test_acc=scores["test_acc"], test_loss=scores["test_loss"]),
                       source, note)
    ms = models()
    ms[entry.name] = entry
    if (scored_on or data_token()) == data_token():  # the scores are on the data in use
        st.session_state.setdefault("evaluations", {})[(entry.name, data_token())] = scores
    st.session_state["current_model"] = entry.name
    _forget_oldest(ms)
    return entry


def _forget_oldest(ms: dict[str, ModelEntry]) -> None:
    """Bounded memory: drop the oldest non-bundled, non-current models beyond the cap."""
    extra = [n for n, e in ms.items() if e.source != "bundled"
             and n != st.session_state.get("current_model")]
    while len(ms) > limits.MAX_SESSION_MODELS and extra:
        drop = extra.pop(0)
        ms.pop(drop, None)
        for key in [k for k in st.session_state.get("evaluations", {}) if k[0] == drop]:
            st.session_state["evaluations"].pop(key)
        st.toast(f"Forgot the oldest model, **{drop}**: a session keeps at most "
                 f"{limits.MAX_SESSION_MODELS} models (download the ones you want to keep).",
                 icon=":material/delete:")


def current() -> ModelEntry | None:
    """The current model of this session (None if there is none at all)."""
    ms = models()
    name = st.session_state.get("current_model")
    if name in ms:
        return ms[name]
    if ms:
        name = next(reversed(ms))
        st.session_state["current_model"] = name
        return ms[name]
    return None


def set_current(name: str) -> None:
    if name not in models():
        raise KeyError(f"no model named {name!r} in this session")
    st.session_state["current_model"] = name


def evaluation(entry: ModelEntry) -> dict:
    """The model's scores on this session's test set, computed once per (model, data):
    probs (N, 10) float32, preds, test_acc, test_loss, per_class, confusion."""
    if entry.source == "bundled" and data_token() == "mnist":
        return cache.cnn_score() if entry.name == BUNDLED_CNN_NAME else cache.default_score()
    evals = st.session_state.setdefault("evaluations", {})
    key = (entry.name, data_token())
    if key not in evals:
        evals[key] = score(entry.model, active_data()[1])
    return evals[key]


def require_model() -> ModelEntry:
    """The current model, or a message and the end of this page's run."""
    entry = current()
    if entry is None:
        st.info(cache.default_model_problem() or "No model yet: train one on the Train page.")
        page_link("pages/train.py", "Go to the Train page", ":material/model_training:")
        st.stop()
    return entry


def model_file_bytes(entry: ModelEntry) -> bytes:
    """The entry as a .npz model file (mnist.save_model into memory)."""
    buf = io.BytesIO()
    mnist.save_model(entry.model, buf, config=entry.config, history=entry.history,
                     metrics={k: v for k, v in entry.metrics.items()
                              if isinstance(v, (int, float, str))})
    return buf.getvalue()


def use_uploaded_model(name: str, raw: bytes) -> str | None:
    """Load an uploaded model file and make it current. Returns None on success, else the
    ModelFileError message (and nothing in the session changes)."""
    try:
        model = mnist.load_model(raw)
        if model.n_inputs != 784 or model.n_classes != 10:
            raise ModelFileError(f"{name}: the network maps {model.n_inputs} inputs to "
                                 f"{model.n_classes} outputs; MNIST Lab needs 784 -> 10")
        arch = model_architecture(model)
        limits.check_weights(f"{name}: {arch}", model.n_params, ModelFileError)
    except ModelFileError as e:
        msg = str(e)
        return msg.replace("model file:", f"{name}:", 1) if msg.startswith("model file:") else msg
    add_model(f"uploaded: {name}", model, "uploaded", config=_config_from_meta(model.meta),
              history=model.meta.get("history") or [])
    return None
