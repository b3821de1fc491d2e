#!/usr/bin/env bash
# One command for a fresh machine: install the app and test dependencies (chromium included),
# then run the whole test suite (unit, AppTest page tests and browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
exec .venv/bin/python -m pytest "$@"
