"""A lesson in a link: a training setup kept in the URL's query parameters, and read back.

As TensorFlow Playground does, the page's setup lives in the address bar, so a teacher can send
a link that opens the exact setup. These are pure functions of TrainConfig fields and a dict of
strings (`st.query_params`); the Train page uses them, and any page with a setup can (pass a
`prefix` to keep two setups apart):

    params = to_query(cfg)                 # {"hidden": "128-64", "optimizer": "sgd", ...}
    cfg, notes = from_query(params)        # never raises: bad or stale values -> defaults
    link = share_url("http://host/train", params)

Only the fields that differ from `base` (TrainConfig's defaults) are written, so links stay
short and keep meaning the same setup. Reading a link takes every value it can; a value that is
not understood, not valid, or a parameter this version does not know is left at its default
and named in `notes` (one line for the page to show), never an error.
"""

from __future__ import annotations

import dataclasses
import math
from urllib.parse import urlencode

from mnist.errors import ConfigError
from mnist.training.config import TrainConfig, parse_hidden

NONE = "none"
# query parameters that are not a setup (Streamlit's own; the Train page's run id, ui.runs):
# kept as they are and never reported as unknown
FOREIGN = ("embed", "embed_options", "run")


def _fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(TrainConfig)}


def encode_value(value) -> str:
    """One field's value as URL text: 128-64, sgd, 0.001, 5000, true, none."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float
    if isinstance(value, (tuple, list)):
        return "-".join(str(v) for v in value) or NONE
    return str(value)


def decode_value(name: str, text: str):
    """A field's value from URL text; ValueError (or ConfigError) if it is not one."""
    field = _fields()[name]
    kind = str(field.type)
    text = text.strip()
    if text.lower() == NONE and "None" in kind:
        return None
    if name == "hidden":
        return parse_hidden(text)
    if kind == "bool":
        low = text.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ValueError("not true or false")
    if kind.startswith("int") or kind.startswith("float"):
        if kind.startswith("int") and text.lstrip("-").isdigit():
            return int(text)
        if "float" not in kind:
            raise ValueError("not a whole number")
        number = float(text)
        if not math.isfinite(number):
            raise ValueError("not a finite number")
        return number
    return text


def to_query(cfg: TrainConfig, base: TrainConfig | None = None, prefix: str = "") -> dict:
    """The query parameters of `cfg`: the fields that differ from `base` (defaults), as text."""
    base = base if base is not None else TrainConfig()
    out = {}
    for name in _fields():
        value = getattr(cfg, name)
        if value != getattr(base, name):
            out[prefix + name] = encode_value(value)
    return out


def has_setup(params: dict, prefix: str = "") -> bool:
    """Whether the query parameters carry a setup for this prefix (any of its keys)."""
    return any(k.startswith(prefix) and k[len(prefix):] in _fields() for k in params)


def from_query(params: dict, base: TrainConfig | None = None, prefix: str = "",
               fields: set[str] | None = None) -> tuple[TrainConfig, list[str]]:
    """(config, notes) from query parameters. Never raises: each value that is not understood,
    or not valid with the values taken before it, stays at `base`'s value and `notes` names
    it. `fields`: the fields this page can show (others are reported as ignored)."""
    base = base if base is not None else TrainConfig()
    known = _fields()
    usable = set(known) if fields is None else set(fields) & set(known)
    notes, values = [], {}
    for key, raw in params.items():
        if isinstance(raw, (list, tuple)):  # a repeated parameter: the last one counts
            raw = raw[-1] if raw else ""
        if not key.startswith(prefix) or key in FOREIGN:
            continue
        name = key[len(prefix):]
        if name not in usable:
            notes.append(f"{_short(key)[1:-1]} is not a setting here")
            continue
        try:
            values[name] = decode_value(name, str(raw))
        except (ValueError, ConfigError):
            notes.append(f"{key}={_short(raw)} is not understood")
    # take the values one by one while they keep the config valid; a second pass takes
    # those that needed another one first (warm-up epochs after the epochs)
    taken, waiting = {}, list(values)
    progress = True
    while progress and waiting:
        progress = False
        for name in list(waiting):
            try:
                _build(base, {**taken, name: values[name]})
            except ConfigError:
                continue
            taken[name] = values[name]
            waiting.remove(name)
            progress = True
    notes += [f"{prefix}{name}={_short(params.get(prefix + name))} is not valid"
              for name in waiting]
    return _build(base, taken), notes


def _build(base: TrainConfig, values: dict) -> TrainConfig:
    if "hidden" in values and "layers" not in values and base.layers is not None:
        values = {**values, "layers": None}
    return base.replace(**values) if values else base


def _short(raw) -> str:
    text = str(raw[-1] if isinstance(raw, (list, tuple)) and raw else raw)
    return repr(text if len(text) <= 24 else text[:21] + "...")


def share_url(page_url: str | None, params: dict) -> str:
    """The full link: the page's URL (without its old query) and the parameters."""
    base = (page_url or "").split("?", 1)[0].split("#", 1)[0]
    query = urlencode(params, safe="-,:")
    return f"{base}?{query}" if query else base


def note_line(notes: list[str]) -> str:
    """The one line a page shows for a link it could not fully use."""
    return ("This link's setup was opened with defaults where it could not be used: "
            + "; ".join(notes) + ".")
