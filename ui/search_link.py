"""A lesson in a link for the Search page: its setup in the URL's query parameters.

    ?preset=four-learning-rates&epochs=1&subset=2000
    ?preset=custom&sampler=tpe&trials=12&vary=lr,batch_size&from.lr=0.001&to.lr=1
    ?study=<id>                      # a study to open (the "share this study" link)

The network and budget fields are TrainConfig fields, written and read by `ui.links` (the Train
page's links) with the same text for the same value; the search's own choices (preset, sampler,
pruner, pairing, what varies, its values or range) are added here. Only what differs from the
form's first values is written, so a link stays short. Reading one never fails: a value that is
not understood or not valid stays at its default and is named in one note.

`to_params` / `from_params` are pure (dicts in, dicts out); `apply_link` and `sync_link` move
them between `st.query_params` and the widgets' state.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from mnist.engine.study import PRUNERS, SAMPLERS
from mnist.errors import ConfigError
from mnist.search.presets import SEARCH_PRESETS
from mnist.search.space import FIELDS, MAX_RUNS, OFFERED, parse_values
from mnist.training.config import parse_hidden
from ui import links
from ui.search_form import CUSTOM, MAX_SEARCH_EPOCHS, NET_DEFAULTS, PRESET_TITLES

STUDY = "study"
NET = {"sr_hidden": "hidden", "sr_activation": "activation", "sr_init": "init",
       "sr_optimizer": "optimizer", "sr_lr": "lr", "sr_batch": "batch_size"}
BUDGET = {"sr_epochs": "epochs", "sr_subset": "subset"}
APPLIED_KEY = "_sr_link_applied"
SLUGS = {p.title: slug for slug, p in SEARCH_PRESETS.items()}


def _config_fields(state: dict) -> dict:
    """The TrainConfig fields of the form, as values (hidden parsed; unreadable ones left out)."""
    out = {}
    for key, name in {**BUDGET, **NET}.items():
        if key not in state:
            continue
        value = state[key]
        if name == "hidden":
            try:
                value = parse_hidden(str(value))
            except ConfigError:
                continue
        out[name] = value
    return out


def to_params(state: dict, first: dict) -> dict[str, str]:
    """Query parameters for the form's state (widget key -> value), leaving out what equals
    `first` (the widgets' first values)."""
    custom = state.get("sr_preset") == CUSTOM
    out = {"preset": "custom" if custom else SLUGS.get(state.get("sr_preset"), "")}
    now, was = _config_fields(state), _config_fields(first)
    for name, value in now.items():
        if name in NET.values() and not custom:
            continue
        if value != was.get(name):
            out[name] = links.encode_value(value)
    if state.get("sr_paired", True) != first.get("sr_paired", True):
        out["paired"] = links.encode_value(bool(state.get("sr_paired")))
    if state.get("sr_pruner", "none") != "none":
        out["pruner"] = state["sr_pruner"]
    if custom:
        sampler = state.get("sr_sampler", "grid")
        out["sampler"] = sampler
        vary = [f for f in state.get("sr_vary", []) if f in OFFERED]
        out["vary"] = ",".join(vary)
        if sampler != "grid":
            out["trials"] = str(state.get("sr_trials", first.get("sr_trials")))
        for f in vary:
            if sampler == "grid" or FIELDS[f].range is None:
                out[f"values.{f}"] = str(state.get(f"sr_grid_{f}", FIELDS[f].grid))
            else:
                for end, key in (("from", "sr_lo_"), ("to", "sr_hi_")):
                    if f"{key}{f}" in state:
                        out[f"{end}.{f}"] = links.encode_value(state[f"{key}{f}"])
    return {k: v for k, v in out.items() if v != ""}


def from_params(params: Mapping, first: dict, n_train: int) -> tuple[dict, list[str]]:
    """(widget key -> value, notes) from query parameters. Never raises: what cannot be used
    keeps its first value and is named in `notes`."""
    params = {k: (v[-1] if isinstance(v, (list, tuple)) and v else v) for k, v in
              params.items() if k != STUDY and k not in links.FOREIGN}
    changes, notes = {}, []

    def bad(key, why="is not understood"):
        notes.append(f"{key}={_short(params[key])} {why}")

    # the TrainConfig fields, through the Train page's reader
    names = {name: key for key, name in {**BUDGET, **NET}.items()}
    net = {k: v for k, v in params.items() if k in names}
    base = NET_DEFAULTS.replace(epochs=first["sr_epochs"], subset=first["sr_subset"])
    cfg, net_notes = links.from_query(net, base=base, fields=set(names))
    notes += net_notes
    for name in net:
        value = getattr(cfg, name)
        if value == getattr(base, name) and links.encode_value(value) != str(net[name]):
            continue  # not taken (named in the notes)
        if name == "epochs" and not 1 <= value <= MAX_SEARCH_EPOCHS:
            bad(name, f"is not valid (1 to {MAX_SEARCH_EPOCHS} here)")
        elif name == "subset" and not (isinstance(value, int) and
                                       min(1000, n_train) <= value <= n_train):
            bad(name, f"is not valid ({min(1000, n_train):,} to {n_train:,} digits here)")
        elif name == "hidden":
            changes[names[name]] = ", ".join(map(str, value))
        else:
            changes[names[name]] = value
    # the search's own choices
    titles = {slug: title for title, slug in SLUGS.items()}
    for key, text in params.items():
        text = str(text).strip()
        if key in names:
            continue
        if key == "preset":
            if text == "custom":
                changes["sr_preset"] = CUSTOM
            elif text in titles and titles[text] in PRESET_TITLES:
                changes["sr_preset"] = titles[text]
            else:
                bad(key, "is not a preset here")
        elif key == "paired":
            if text.lower() in ("true", "1", "false", "0"):
                changes["sr_paired"] = text.lower() in ("true", "1")
            else:
                bad(key)
        elif key in ("pruner", "sampler"):
            if text in (PRUNERS if key == "pruner" else SAMPLERS):
                changes[f"sr_{key}"] = text
            else:
                bad(key)
        elif key == "trials":
            if text.isdigit() and 1 <= int(text) <= MAX_RUNS:
                changes["sr_trials"] = int(text)
            else:
                bad(key, f"is not valid (1 to {MAX_RUNS})")
        elif key == "vary":
            fields = [f for f in text.split(",") if f]
            if not fields or any(f not in OFFERED for f in fields):
                bad(key, "names a setting the page does not vary")
            changes["sr_vary"] = [f for f in fields if f in OFFERED] or first["sr_vary"]
        elif "." in key and key.split(".", 1)[1] in OFFERED:
            _range_or_values(key, text, changes, bad)
        else:
            notes.append(f"{_short(key)[1:-1]} is not a setting here")
    return changes, notes


def _short(text) -> str:
    text = str(text)
    return repr(text if len(text) <= 24 else text[:21] + "...")


def _range_or_values(key: str, text: str, changes: dict, bad) -> None:
    what, f = key.split(".", 1)
    try:
        if what == "values":
            if not parse_values(f, text):
                raise ConfigError("empty")
            changes[f"sr_grid_{f}"] = text
        elif what in ("from", "to") and FIELDS[f].range is not None:
            value = float(text) if FIELDS[f].kind == "float" else int(text)
            changes[f"sr_{'lo' if what == 'from' else 'hi'}_{f}"] = value
        else:
            bad(key, "is not a setting here")
    except (ValueError, ConfigError):
        bad(key)


# ---------------------------------------------------------------------------- the page's side
def apply_link(first: dict, n_train: int) -> str | None:
    """Once per session, before the widgets are drawn: the URL's setup into the widgets'
    state. Returns the one-line note for what could not be used (None if all was)."""
    if st.session_state.get(APPLIED_KEY):
        return None
    st.session_state[APPLIED_KEY] = True
    params = st.query_params.to_dict()
    if not any(k != STUDY for k in params):
        return None
    changes, notes = from_params(params, first, n_train)
    for key, value in changes.items():
        st.session_state[key] = value
    return links.note_line(notes) if notes else None


def sync_link(first: dict, study_id: str | None = None) -> dict:
    """After the widgets are drawn: the URL shows the form's setup (and the shared study, if
    any), so the address bar is always a link to what is on the page."""
    params = to_params(dict(st.session_state), first)
    if study_id:
        params[STUDY] = study_id
    if params != st.query_params.to_dict():
        st.query_params.from_dict(params)
    return params


def setup_url(params: dict) -> str:
    return links.share_url(st.context.url, params)
