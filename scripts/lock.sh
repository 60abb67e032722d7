#!/usr/bin/env bash
# Regenerate requirements.lock: every dependency (runtime + dev) pinned with hashes, resolved
# against PyPI alone (no pip config, no local wheel folders: they would leak into the lock).
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-uv}"
env -u PIP_FIND_LINKS -u PIP_CONSTRAINT UV_NO_CONFIG=1 PIP_CONFIG_FILE=/dev/null \
  "$UV" pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
  --python-platform x86_64-manylinux_2_28 --index-url https://pypi.org/simple \
  --no-header --quiet -o requirements.lock
echo "wrote requirements.lock ($(grep -c '==' requirements.lock) pins)"
# What runs (the Action, pre-commit's hook venv): no test or lint tools.
env -u PIP_FIND_LINKS -u PIP_CONSTRAINT UV_NO_CONFIG=1 PIP_CONFIG_FILE=/dev/null \
  "$UV" pip compile pyproject.toml --generate-hashes --python-version 3.11 \
  --python-platform x86_64-manylinux_2_28 --index-url https://pypi.org/simple \
  --no-header --quiet -o requirements-runtime.lock
echo "wrote requirements-runtime.lock ($(grep -c '==' requirements-runtime.lock) pins)"
