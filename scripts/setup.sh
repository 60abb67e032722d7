#!/usr/bin/env bash
# Create .venv with Carpenter and its locked dependencies (hash-checked, PyPI only).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Local wheel folders and pip config would bypass the lock; hashes make any drift an error.
export PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_CONSTRAINT PIP_INDEX_URL PIP_EXTRA_INDEX_URL || true
stamp=.venv/.carpenter-lock.sha256
want="$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-64)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    --index-url https://pypi.org/simple --require-hashes --no-deps -r requirements.lock
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi
.venv/bin/carpenter --version
