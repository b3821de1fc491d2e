"""The app's shared Streamlit code: cached loaders, per-user state, the sidebar, upload handling.

The only non-page module that imports streamlit. Two kinds of state, kept apart on purpose:

- shared by every user of the server, loaded once, read-only (`st.cache_resource`): the MNIST
  arrays, the bundled model and its scores, the dataset statistics;
- one user's own (`st.session_state`): the models trained or uploaded in this session, the
  current model, an uploaded dataset, the split, the running training job. Nothing a user does
  is ever written into the shared objects, so two users never see each other's runs.

Pages call these functions and draw; everything that computes arrays is in `mnist/`.
"""

from __future__ import annotations

import io
import math
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

import mnist
from mnist.analysis import explore
from mnist.training.config import TrainConfig, config_for_model
from mnist.data.dataset import Dataset
from mnist.data.readers import read_npz
from mnist.errors import DatasetError
from mnist.training.jobs import TrainingJob, limit_blas_threads, running_jobs
from mnist.training.persist import ModelFileError, clone_model
from mnist.search import running_searches

# One BLAS thread for the whole server process, set once at import (threadpoolctl): on a shared
# 2-core box OpenBLAS's own threads spinning against the server's and the other users' made
# training 10-30x slower. Parallelism comes from the users' runs (and the search's processes).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # BLAS libraries loaded later (scipy's)
limit_blas_threads(1)

ROOT = Path(__file__).resolve().parent
DEFAULT_MODEL_PATH = ROOT / "models" / "default.npz"
BUNDLED_NAME = "bundled model"
MAX_SERVER_RUNS = 4  # training runs + searches at once, all sessions together (2 shared cores)
MAX_SESSION_MODELS = 12  # memory: the oldest trained models beyond this are forgotten
MAX_TRAIN_PARAMS = 5_000_000  # weights in one app run: with gradients and Adam's moments about
                              # 80 MB (float32) of the memory all users share; bigger: the CLI
SOURCES = ("bundled", "trained", "uploaded", "search", "fine-tuned")
PERSISTENT_PREFIXES = ("tr_", "ds_", "sr_")  # widget keys whose values survive page changes


# ============================================================================ shared, cached
@st.cache_resource(show_spinner="Loading MNIST ...")
def data() -> tuple[Dataset, Dataset]:
    """The bundled MNIST `(train, test)`, read-only, loaded once per server."""
    return mnist.load_mnist()


@st.cache_resource(show_spinner=False)
def _mnist_stats(part: str) -> dict:
    train, test = data()
    return explore.dataset_stats(train if part == "train" else test)


@st.cache_resource(show_spinner=False)
def _load_default(path: str, mtime: float):
    """(model, problem): keyed by the file's mtime, so a model that appears later is seen."""
    try:
        return mnist.load_model(path), None
    except ModelFileError as e:
        return None, str(e)


@st.cache_resource(show_spinner="Scoring the bundled model ...")
def _default_score(mtime: float) -> dict:
    model = default_model()
    return explore.score(model, data()[1])


def _default_mtime() -> float | None:
    try:
        return os.path.getmtime(DEFAULT_MODEL_PATH)
    except OSError:
        return None


def default_model():
    """The bundled model (`models/default.npz`), shared read-only; None if it is missing."""
    mtime = _default_mtime()
    if mtime is None:
        return None
    return _load_default(str(DEFAULT_MODEL_PATH), mtime)[0]


def default_model_problem() -> str | None:
    """Why there is no bundled model (None when there is one)."""
    mtime = _default_mtime()
    if mtime is None:
        return ("No bundled model yet (models/default.npz is missing). Train one on the "
                "Train page, or upload a model file there.")
    problem = _load_default(str(DEFAULT_MODEL_PATH), mtime)[1]
    return f"The bundled model could not be loaded: {problem}" if problem else None


# ============================================================================ session state
def default(key: str, value):
    """Give a widget key its first value (widgets then use the key, never `value=`)."""
    if key not in st.session_state:
        st.session_state[key] = value
    return st.session_state[key]


def keep_widget_state() -> None:
    """Streamlit forgets a widget's value when its page is left; re-assigning the keys at the
    top of every run keeps the Train, Search and Dataset pages' choices across pages."""
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(PERSISTENT_PREFIXES):
            try:
                st.session_state[key] = st.session_state[key]
            except Exception:  # buttons and file uploaders cannot be set: leave them
                pass


def fmt_duration(seconds) -> str:
    """'4.2 s', '42 s', '3 min 05 s'; '?' when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    if seconds < 10:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def selected_points(key: str) -> list[dict]:
    """The points of a Plotly chart's selection (`st.plotly_chart(key=, on_select=)`)."""
    state = st.session_state.get(key) or {}
    return (state.get("selection") or {}).get("points") or []


def clicked_index(key: str) -> int | None:
    """The first selected point's customdata as an index (our digit grids put each digit's
    index there, -1 on empty slots): a number, or a one-element list/dict of one; or None."""
    for point in selected_points(key):
        v = point.get("customdata")
        if isinstance(v, dict):
            v = next(iter(v.values()), None)
        if isinstance(v, (list, tuple)):
            v = v[0] if v else None
        if v is not None and int(v) >= 0:
            return int(v)
    return None


# ---------------------------------------------------------------------------- data
def active_data() -> tuple[Dataset, Dataset]:
    """`(train, test)` for this session: an uploaded dataset, else the bundled MNIST."""
    override = st.session_state.get("data_override")
    if override:
        return override["train"], override["test"]
    return data()


def data_token() -> str:
    """Changes whenever this session's data changes (evaluations are keyed by it)."""
    override = st.session_state.get("data_override")
    return override["token"] if override else "mnist"


MNIST_SIZES = (60_000, 10_000)


def data_sizes() -> tuple[int, int]:
    """(train, test) sizes of this session's data, without loading MNIST for it (the home
    page and the sidebar show these; a cold start should not wait for the arrays)."""
    override = st.session_state.get("data_override")
    if override:
        return len(override["train"]), len(override["test"])
    return MNIST_SIZES


def data_description() -> str:
    override = st.session_state.get("data_override")
    origin = f"uploaded: {override['name']}" if override else "MNIST"
    n_train, n_test = data_sizes()
    return f"{origin} ({n_train:,} train / {n_test:,} test digits)"


_warming = False


def warm_up() -> None:
    """Load MNIST in a background thread (once per server) so the next page finds it ready;
    `mnist.load_mnist` caches its result, which `data()` then picks up at once."""
    global _warming
    if not _warming:
        _warming = True
        import threading
        threading.Thread(target=mnist.load_mnist, name="warm-mnist", daemon=True).start()


def dataset_stats(part: str) -> dict:
    """Counts, class means and pixel histogram of this session's train or test set."""
    if data_token() == "mnist":
        return _mnist_stats(part)
    cache = st.session_state.setdefault("_stats", {})
    key = (data_token(), part)
    if key not in cache:
        train, test = active_data()
        if len(cache) > 4:  # an old upload's statistics
            cache.clear()
        cache[key] = explore.dataset_stats(train if part == "train" else test)
    return cache[key]


USE_OPTIONS = {
    "train": "train on it (test on MNIST's test set)",
    "test": "test on it (train on MNIST's training set)",
    "both": "both: its test part, or 20% of it held out as a test set",
}


def _guess_idx_order(files):
    """(images, labels) from two IDX files, by name ("label", "idx1") when it says."""
    (n1, b1), (n2, b2) = files
    if "label" in n1.lower() or "idx1" in n1.lower():
        return (n2, b2), (n1, b1)
    return (n1, b1), (n2, b2)


def read_uploaded_data(files: list[tuple[str, bytes]], use: str = "train"):
    """The `(train, test, name)` an upload gives; raises DatasetError (nothing is changed).

    One file: a CSV, an NPZ or an IDX images file (unlabeled: refused, it cannot train or
    test). Two files: an IDX images file and its labels file, in either order.
    """
    if use not in USE_OPTIONS:
        raise DatasetError(f"unknown use {use!r}")
    if not files:
        raise DatasetError("no file was uploaded")
    if len(files) > 2:
        raise DatasetError(f"{len(files)} files uploaded: upload one file (CSV, NPZ) or an "
                           "IDX pair (images + labels)")
    mnist_train, mnist_test = data()
    parts: dict[str, Dataset] = {}
    if len(files) == 2:
        (ni, bi), (nl, bl) = _guess_idx_order(files)
        try:
            ds = mnist.read_idx_pair(bi, bl, name=ni)
        except DatasetError as first:
            try:  # the other way round
                ds = mnist.read_idx_pair(bl, bi, name=nl)
            except DatasetError:
                raise first from None
        parts["data"] = ds
        name = f"{ni} + {nl}"
    else:
        name, raw = files[0]
        if raw[:2] == b"PK":
            parts = read_npz(raw, name=name)
        else:
            parts["data"] = mnist.read_dataset(raw, name=name)
    for ds in parts.values():
        if not ds.has_labels:
            raise DatasetError(f"{ds.name}: no labels, so it can be neither trained nor "
                               "scored on (upload a labelled file, or the IDX labels too)")
        if len(ds) < 20:
            raise DatasetError(f"{ds.name}: only {len(ds)} digits; at least 20 are needed")
    if "train" in parts and "test" in parts:
        own_train, own_test = parts["train"], parts["test"]
    else:
        own = parts.get("data") or parts.get("train") or parts.get("test")
        if use == "both":
            own_train, own_test = own.split(0.2, seed=0)
            own_test = Dataset(own_test.images, own_test.labels, f"{own.name} (test 20%)")
        else:
            own_train = own_test = own
    if use == "train":
        return own_train, mnist_test, name
    if use == "test":
        return mnist_train, own_test, name
    return own_train, own_test, name


def use_uploaded_data(files: list[tuple[str, bytes]], use: str = "train") -> str | None:
    """Make an upload this session's data. Returns None on success, else the DatasetError
    message (and this session's data is left exactly as it was)."""
    try:
        train, test, name = read_uploaded_data(files, use)
    except DatasetError as e:
        return str(e)
    token = uuid.uuid4().hex
    st.session_state["data_override"] = dict(train=train, test=test, name=name, use=use,
                                            token=token)
    st.session_state.pop("_stats", None)
    evals = st.session_state.get("evaluations", {})  # bounded memory: forget the scores
    for key in [k for k in evals if k[1] not in ("mnist", token)]:  # on older uploads
        evals.pop(key)
    return None


def reset_data() -> None:
    """Back to the bundled MNIST for this session."""
    st.session_state.pop("data_override", None)
    st.session_state.pop("_stats", None)


def val_fraction() -> float:
    """The session's validation split (0 = the standard 60k/10k, no validation)."""
    return float(st.session_state.get("split_val_fraction", 0.1))


def set_val_fraction(f: float) -> None:
    st.session_state["split_val_fraction"] = float(f)


# ---------------------------------------------------------------------------- models
@dataclass
class ModelEntry:
    """A model this session knows: the network plus how it came to be."""

    name: str
    model: object  # mnist.MLP
    config: TrainConfig | None = None
    history: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)  # at least test_acc, test_loss
    source: str = "trained"  # bundled | trained | uploaded | search | fine-tuned
    note: str = ""

    @property
    def architecture(self) -> str:
        return "-".join(str(s) for s in self.model.sizes)

    def describe(self) -> str:
        bits = [self.architecture, self.model.activation]
        if self.config is not None:
            bits.append(f"{self.config.optimizer} lr {self.config.lr:g}")
        return ", ".join(bits)


def _config_from_meta(meta: dict) -> TrainConfig | None:
    cfg = (meta or {}).get("config")
    if not isinstance(cfg, dict):
        return None
    try:
        return TrainConfig.from_dict(cfg)
    except (mnist.ConfigError, TypeError, ValueError):
        return None


def _bundled_entry() -> ModelEntry | None:
    model = default_model()
    if model is None:
        return None
    saved = model.meta.get("metrics") or {}
    if isinstance(saved.get("test_acc"), float) and isinstance(saved.get("test_loss"), float):
        metrics = dict(test_acc=saved["test_acc"], test_loss=saved["test_loss"])  # on MNIST
    else:  # an older file without its scores: measure them (once per server)
        sc = _default_score(_default_mtime())
        metrics = dict(test_acc=sc["test_acc"], test_loss=sc["test_loss"])
    return ModelEntry(BUNDLED_NAME, model, _config_from_meta(model.meta),
                      list(model.meta.get("history") or []), metrics, "bundled",
                      "pretrained, shipped with the app")


def models() -> dict[str, ModelEntry]:
    """This session's models, name -> ModelEntry (the bundled one first, when it exists)."""
    ms = st.session_state.setdefault("models", {})
    if BUNDLED_NAME not in ms and not st.session_state.get("_bundled_removed"):
        entry = _bundled_entry()
        if entry is not None:
            st.session_state["models"] = ms = {BUNDLED_NAME: entry, **ms}
            st.session_state.setdefault("current_model", BUNDLED_NAME)
    return ms


def unique_name(base: str) -> str:
    ms = st.session_state.setdefault("models", {})
    if base not in ms:
        return base
    k = 2
    while f"{base} ({k})" in ms:
        k += 1
    return f"{base} ({k})"


def add_model(entry: ModelEntry, make_current: bool = True, evaluation: dict | None = None):
    """Add (or replace, by name) a model in this session; optionally make it current and
    store its evaluation on the current test set. Returns the entry."""
    if entry.source not in SOURCES:
        raise ValueError(f"unknown source {entry.source!r} (known: {', '.join(SOURCES)})")
    ms = models()
    ms[entry.name] = entry
    if evaluation is not None:
        st.session_state.setdefault("evaluations", {})[(entry.name, data_token())] = evaluation
    if make_current or current() is None:
        st.session_state["current_model"] = entry.name
    # bounded memory: forget the oldest non-bundled, non-current models
    extra = [n for n, e in ms.items() if e.source != "bundled"
             and n != st.session_state.get("current_model")]
    while len(ms) > MAX_SESSION_MODELS and extra:
        drop = extra.pop(0)
        ms.pop(drop, None)
        for key in [k for k in st.session_state.get("evaluations", {}) if k[0] == drop]:
            st.session_state["evaluations"].pop(key)
        st.toast(f"Forgot the oldest model, **{drop}**: a session keeps at most "
                 f"{MAX_SESSION_MODELS} models (download the ones you want to keep).",
                 icon=":material/delete:")
    return entry


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
        return _default_score(_default_mtime())
    evals = st.session_state.setdefault("evaluations", {})
    key = (entry.name, data_token())
    if key not in evals:
        evals[key] = explore.score(entry.model, active_data()[1])
    return evals[key]


def require_model() -> ModelEntry:
    """The current model, or a message and the end of this page's run."""
    entry = current()
    if entry is None:
        st.info(default_model_problem() or "No model yet: train one on the Train page.")
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
        if model.sizes[0] != 784 or model.sizes[-1] != 10:
            raise ModelFileError(f"{name}: the network maps {model.sizes[0]} inputs to "
                                 f"{model.sizes[-1]} outputs; MNIST Lab needs 784 -> 10")
        if model.n_params > MAX_TRAIN_PARAMS:  # as for training: memory shared by all users
            raise ModelFileError(f"{name}: {model.n_params:,} weights; the app keeps models "
                                 f"of at most {MAX_TRAIN_PARAMS:,}")
    except ModelFileError as e:
        msg = str(e)
        return msg.replace("model file:", f"{name}:", 1) if msg.startswith("model file:") else msg
    entry = ModelEntry(unique_name(f"uploaded: {name}"), model, _config_from_meta(model.meta),
                       list(model.meta.get("history") or []), {}, "uploaded")
    sc = explore.score(model, active_data()[1])
    entry.metrics = dict(test_acc=sc["test_acc"], test_loss=sc["test_loss"])
    add_model(entry, evaluation=sc)
    return None


# ---------------------------------------------------------------------------- training
QUICK_PRESET = "quick: 784-32-10 Adam, 5,000 digits, 3 epochs"


def presets() -> dict[str, tuple[TrainConfig, str]]:
    """Name -> (TrainConfig, note): a seconds-long starter, then mnist.training.presets (the tutorials'
    networks and the bundled model's recipe)."""
    out = {QUICK_PRESET: (
        TrainConfig(hidden=(32,), activation="relu", init="he", optimizer="adam", lr=1e-3,
                    batch_size=64, epochs=3, subset=5000, val_fraction=0.1, seed=0),
        "A small net on 5,000 digits: trains in a few seconds to about 90% test accuracy. "
        "Good for a first look at the curves.")}
    try:
        from mnist.training.presets import PRESETS
        out.update(PRESETS)
    except ImportError:  # the package's presets are optional
        pass
    return out


ABANDON_AFTER_S = 120  # a run nobody has looked at for this long (tab closed) stops itself


class SessionToken:
    """Lives in one session's state only: a training job holds it weakly and stops itself
    when the session (and so the token) is gone."""


def training_job() -> TrainingJob | None:
    return st.session_state.get("train_job")


def server_busy() -> str | None:
    """Why nothing more may start on this server now (None: go ahead). Training runs and
    searches of all sessions together are capped at MAX_SERVER_RUNS: they share the cores."""
    busy = running_jobs() + running_searches()
    if busy >= MAX_SERVER_RUNS:
        return (f"The server is busy: {busy} training runs and searches are going right now "
                "(for you and other users, on cores everyone shares). Try again in a minute.")
    return None


def start_training(cfg: TrainConfig, resume: ModelEntry | None = None) -> TrainingJob:
    """Start this session's training job (one at a time). Raises RuntimeError if one is
    running, ConfigError / DatasetError for inputs train() refuses."""
    job = training_job()
    if job is not None and not job.done:
        raise RuntimeError("A training run is already going in this session: stop it first "
                           "(one run at a time).")
    if (busy := server_busy()) is not None:
        raise RuntimeError(busy)
    train, test = active_data()
    model = None
    if resume is not None:
        model = clone_model(resume.model)  # the original stays as it was
        cfg = config_for_model(cfg, model)
    n_params = cfg.n_params
    if n_params > MAX_TRAIN_PARAMS:
        raise mnist.ConfigError(
            f"{'-'.join(map(str, cfg.sizes))} has {n_params:,} weights; the app trains at most "
            f"{MAX_TRAIN_PARAMS:,} per run (its memory is shared by every user). Use smaller "
            "hidden layers, or train it with `python -m mnist train` on your own machine.")
    n = st.session_state.get("_run_counter", 0) + 1
    name = (f"run {n}: resumed {resume.name}" if resume is not None else
            f"run {n}: {'-'.join(map(str, cfg.sizes))} {cfg.optimizer} lr {cfg.lr:g}")
    owner = st.session_state.setdefault("_session_token", SessionToken())
    job = TrainingJob(cfg, train, model=model, test=test, name=name, owner=owner,
                      abandon_after=ABANDON_AFTER_S)
    job.resumed_from = resume.name if resume is not None else None
    job.collected = False
    job.data_token = data_token()
    st.session_state["_run_counter"] = n
    st.session_state["train_job"] = job
    job.start()
    return job


def collect_finished_job() -> ModelEntry | None:
    """Once the job has finished: add its model to the session (once). Diverged and failed
    runs add nothing. Returns the new entry (None if nothing was added now)."""
    job = training_job()
    if job is None or not job.done or job.collected:
        return None
    job.collected = True
    if job.status in ("diverged", "error") or not job.records:
        return None
    res = job.result
    metrics = {}
    if res is not None:
        metrics = dict(test_acc=res["test_acc"], test_loss=res["test_loss"])
    entry = ModelEntry(unique_name(job.name), job.model, job.config, list(job.records),
                       metrics, "fine-tuned" if job.resumed_from else "trained",
                       job.message or job.status)
    add_model(entry, evaluation=res if job.data_token == data_token() else None)
    job.entry_name = entry.name
    return entry


# ============================================================================ shared widgets
def page_link(path: str, label: str, icon: str | None = None) -> None:
    """st.page_link, or the label in bold when the page is not registered (a page run on its
    own, as in a page test, has no navigation to link through)."""
    from streamlit.errors import StreamlitAPIException

    try:
        st.page_link(path, label=label, icon=icon)
    except StreamlitAPIException:
        st.markdown(f"**{label}**")


def _job_badge():
    """The sidebar's live line about a background run (on every page; it also tells the job
    that someone is still there)."""
    job = training_job()
    if job is None:
        return
    job.touch()
    if job.done:
        st.caption(f"Training finished ({job.status.replace('_', ' ')}): see the Train page.")
    else:
        st.caption(f"Training in the background: {job.progress:.0%} of {job.epochs} epochs")


def _pick_model():
    name = st.session_state.get("_model_picker")
    if name in models():
        set_current(name)


def sidebar() -> None:
    """The shared sidebar: the current model, a picker over this session's models, help."""
    collect_finished_job()  # a run that ended while the user was elsewhere joins the models
    with st.sidebar:
        ms = models()
        entry = current()
        st.markdown("#### Current model")
        if entry is None:
            st.info(default_model_problem() or "No model yet: train one on the Train page.")
        else:
            acc = entry.metrics.get("test_acc")
            label = "Test accuracy"
            if data_token() != "mnist":  # an uploaded test set: score on it (cached)
                acc, label = evaluation(entry)["test_acc"], "Test accuracy (your test set)"
            st.markdown(f"**{entry.name}**  \n`{entry.architecture}` · {entry.model.activation}"
                        f" · {entry.source}")
            if acc is not None:
                st.metric(label, f"{acc:.2%}",
                          help="Share of the test digits this model classifies correctly "
                               "(the test set is never used for training).")
            if len(ms) > 1:
                names = list(ms)
                st.session_state["_model_picker"] = entry.name
                st.selectbox("Use model", names, key="_model_picker", on_change=_pick_model,
                             help="Models trained or uploaded in this session (only you see "
                                  "them). The chosen one is used by every page.")
        job = training_job()
        if job is not None and not job.done:
            st.fragment(_job_badge, run_every=3)()
        st.caption(f"Data: {data_description()}")
        with st.expander("Help", icon=":material/help:"):
            st.markdown(
                "- **Dataset**: look at the digits, upload your own.\n"
                "- **Train**: build a network, watch it learn, stop it any time.\n"
                "- The model chosen here is used by every page.\n"
                "- Your models live in this browser session only; download the ones you "
                "want to keep (Train page).")
