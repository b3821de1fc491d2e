"""tests/torch/: our layers against PyTorch. torch is not an app dependency (it lives in
.venv-bench only), so without it this whole folder is left out of collection, and the
report header says so."""

import importlib.util

# find_spec, not import: with tests/ on sys.path this very folder would import as an empty
# namespace package called "torch" (no origin) where the real one is missing
_spec = importlib.util.find_spec("torch")
TORCH = _spec is not None and _spec.origin is not None

if not TORCH:
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header(config):
    if not TORCH:
        return "tests/torch: not collected, torch is not installed (run it with .venv-bench)"
