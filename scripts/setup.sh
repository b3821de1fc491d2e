#!/usr/bin/env bash
# Create .venv and install the pinned dependencies (idempotent; quick when already done).
#   scripts/setup.sh          app dependencies (requirements.txt)
#   scripts/setup.sh --dev    plus test dependencies and Debian's chromium for browser tests
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
req=requirements.txt
[ "${1:-}" = "--dev" ] && req=requirements-dev.txt
# Skip pip when the requirements have not changed since the last successful install.
stamp=".venv/.installed-$(basename "$req")"
digest=$(cat requirements*.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  .venv/bin/python -m pip install --disable-pip-version-check -q -r "$req"
  echo "$digest" > "$stamp"
fi
if [ "${1:-}" = "--dev" ] && [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
# PostgreSQL for the engine's many-machines tests (tests/engine start their own server)
if [ "${1:-}" = "--dev" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
