#!/usr/bin/env bash
# The whole test suite, set-up included: venv from the lock, a Docker engine and local base
# images (scripts/engine.sh), then ruff and pytest. Safe to run again: everything is cached.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/engine.sh
# engine.sh succeeded, so engine tests must run here: they fail instead of skipping.
export CARPENTER_REQUIRE_ENGINE=1
set +e
.venv/bin/python -m pytest -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$status"
