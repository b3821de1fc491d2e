#!/usr/bin/env bash
# One command for a fresh machine: install what the app needs, then `streamlit run app.py`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/streamlit run app.py "$@"
