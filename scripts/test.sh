#!/usr/bin/env bash
# One command for a fresh machine: install the app and test dependencies (chromium and
# postgresql included), then run the whole test suite (unit, AppTest page tests, browser tests,
# and, in the benchmark venv that has PyTorch, the checks of our layers against PyTorch).
#   scripts/test.sh            everything
#   scripts/test.sh ARGS...    only `pytest ARGS...` in the app venv
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
if [ $# -gt 0 ]; then
  exec .venv/bin/python -m pytest "$@"
fi
.venv/bin/python -m pytest
bash scripts/setup_bench.sh
exec .venv-bench/bin/python -m pytest -q tests/torch
