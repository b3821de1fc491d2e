#!/usr/bin/env bash
# Create .venv-bench: the app's and the tests' dependencies plus PyTorch and scikit-learn, for the
# benchmarks and for the checks of our layers against PyTorch (tests/torch). PyTorch is never an
# app dependency. Idempotent; quick when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv-bench/bin/python ] || "$PY" -m venv .venv-bench
stamp=".venv-bench/.installed"
digest=$(cat requirements*.txt benchmarks/requirements.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  .venv-bench/bin/python -m pip install --disable-pip-version-check -q -r benchmarks/requirements.txt
  echo "$digest" > "$stamp"
fi
