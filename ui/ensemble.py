"""Ensembles in the app: the sidebar makes one of this session's models, and then it is a
model like any other (every page uses it; download and upload keep its members).

An ensemble answers with the mean of its members' probabilities (`mnist.Ensemble`). Its
members are this session's networks themselves, shared, not copied: each member is a shallow
copy of the network (same layers and weights) that carries its own `meta` (name, config,
scores), which is what `save_model` writes for a member, so the bundled models' own objects
are never written to. Its test scores come from the members' (kept per session, or once per
server for the bundled ones): the mean of probabilities already computed, no network run.
"""

from __future__ import annotations

import copy

import streamlit as st

from mnist.analysis.ensembles import ensemble_score
from mnist.nn.ensemble import Ensemble
from ui import session
from ui.data import active_data, data_token

MEMBERS_KEY = "_ens_members"  # the sidebar's multiselect


def _member(entry: session.ModelEntry, model=None, name: str | None = None):
    """A network of `entry` as an ensemble member: the same layers, its own meta."""
    model = entry.model if model is None else model
    member = copy.copy(model)  # shares the layers (read-only here), not the meta dict
    meta = dict(getattr(model, "meta", None) or {})
    if model is entry.model:  # a network of its own: the entry knows how it was made
        meta["config"] = entry.config.to_dict() if entry.config is not None else None
        meta["metrics"] = {k: v for k, v in entry.metrics.items()
                           if k in ("test_acc", "test_loss") and isinstance(v, (int, float))}
    meta["name"] = name or entry.name
    member.meta = meta
    return member


def make_ensemble(names, name: str | None = None) -> session.ModelEntry:
    """An ensemble of the session's models `names` (an ensemble among them adds its members),
    added through `session.add_model` (scored, made current). ValueError when fewer than two
    different networks are chosen."""
    ms = session.models()
    members, member_names, seen = [], [], set()
    whole = []  # the chosen entries that are one member each (their scores can be reused)
    for n in names:
        entry = ms.get(n)
        if entry is None:
            raise ValueError(f"no model named {n!r} in this session")
        if entry.kind == "ensemble":
            parts = [(m, f"{n} / {mn}") for m, mn in zip(entry.model.members, entry.model.names)]
        else:
            parts = [(entry.model, n)]
        for model, mname in parts:
            same = id(getattr(model, "layers", model))  # a member is a copy sharing layers
            if same in seen:
                continue
            seen.add(same)
            members.append(_member(entry, model, mname))
            member_names.append(mname)
            if model is entry.model:
                whole.append(entry)
    if len(members) < 2:
        raise ValueError("an ensemble needs at least two different models")
    ens = Ensemble(members, member_names)
    kinds = [m.kind for m in members]
    mix = ", ".join(f"{kinds.count(k)} {k.upper()}{'s' if kinds.count(k) > 1 else ''}"
                    for k in dict.fromkeys(kinds))
    scores = None
    if len(whole) == len(members):  # every member scored already (or once, and kept)
        scores = ensemble_score([session.evaluation(e) for e in whole], active_data()[1].y(),
                                ens.dtype)
    return session.add_model(name or "ensemble: " + " + ".join(names), ens, "ensemble",
                             note=f"mean of {len(members)} models' probabilities ({mix})",
                             scores=scores, scored_on=data_token() if scores else None)


def members_caption(entry: session.ModelEntry | None) -> None:
    """An ensemble's members, each with its test accuracy (nothing for a single network)."""
    if entry is None or entry.kind != "ensemble":
        return
    lines = []
    for m in entry.members():
        acc = f" · {m['test_acc']:.2%}" if m["test_acc"] is not None else ""
        lines.append(f"- {m['name']} (`{m['architecture']}`{acc})")
    st.markdown(f"Members ({len(lines)}, their probabilities averaged):\n" + "\n".join(lines))


def maker(ms: dict) -> None:
    """The sidebar's "Make an ensemble": pick two or more of this session's models, press the
    button; the ensemble joins the models and becomes the current one."""
    names = list(ms)
    if len(names) < 2:
        return
    chosen = st.session_state.get(MEMBERS_KEY) or []
    if st.session_state.pop("_ens_clear", False):  # the last choice became an ensemble
        st.session_state[MEMBERS_KEY] = []
    elif any(n not in ms for n in chosen):  # a chosen model was forgotten meanwhile
        st.session_state[MEMBERS_KEY] = [n for n in chosen if n in ms]
    with st.expander("Make an ensemble", icon=":material/join:"):
        # a form: the members and the click arrive together, in one rerun
        with st.form("ens_form", border=False):
            st.multiselect("Members", names, key=MEMBERS_KEY,
                           help="Models trained differently make different mistakes: the "
                                "mean of their probabilities is usually right more often "
                                "than any one of them (an MLP and a CNN together, for "
                                "instance).")
            make = st.form_submit_button(
                "Make ensemble", icon=":material/join:", key="ens_make",
                help="Averages the chosen models' probabilities (two or more); the ensemble "
                     "becomes the current model on every page.")
        if make:
            try:
                with st.spinner("Scoring the ensemble on the test set ..."):
                    entry = make_ensemble(st.session_state.get(MEMBERS_KEY) or [])
            except ValueError as e:
                st.error(str(e))
            else:  # again from the top: the sidebar above shows the new current model
                st.session_state["_ens_clear"] = True
                st.session_state["_ens_made"] = entry.name
                st.rerun()
    if st.session_state.get("_ens_made"):
        st.toast(f"**{st.session_state.pop('_ens_made')}** is now the current model",
                 icon=":material/join:")
