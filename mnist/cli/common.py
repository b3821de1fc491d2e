"""What the command line's commands share: exit codes, the default model, output helpers.

The command line is the one part of the package that prints: results go to stdout (text, or
JSON lines whose last line carries the final figures, with --json), progress and errors to
stderr.
"""

from __future__ import annotations

import json
from pathlib import Path

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "default.npz"
EXIT_ERROR = 1
EXIT_USAGE = 2


def emit(obj, as_json: bool, text: str | None = None) -> None:
    """One result: a JSON line with --json, else `text` (if any)."""
    if as_json:
        print(json.dumps(obj), flush=True)
    elif text is not None:
        print(text, flush=True)


def read_set(path: str, part: str):
    from mnist.data.readers import read_dataset

    return read_dataset(path, part=part)


def model_path(path: str | None) -> str:
    return str(path) if path else str(DEFAULT_MODEL)
