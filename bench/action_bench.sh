#!/usr/bin/env bash
# Time the composite Action's work outside GitHub: the install step (a fresh venv from
# requirements-runtime.lock, as on a cache miss) and the scan step on the bundled fixtures,
# then the scan again with the venv already there (an actions/cache hit skips the install).
# The runner's own overheads (checkout, setup-python, cache download) are not included.
#
#   bash bench/action_bench.sh [PATHS]      (default: fixtures/submissions)
set -euo pipefail
cd "$(dirname "$0")/.."
paths="${1:-fixtures/submissions}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.1f}')"; }

t0=$(now)
python3 -m venv "$work/venv"
PIP_CONFIG_FILE=/dev/null "$work/venv/bin/python" -m pip install --quiet \
  --disable-pip-version-check --require-hashes --no-deps -r requirements-runtime.lock
PIP_CONFIG_FILE=/dev/null "$work/venv/bin/python" -m pip install --quiet \
  --disable-pip-version-check --no-deps .
t1=$(now)
scan() {
  set +e
  CARPENTER_NO_CACHE=1 "$work/venv/bin/carpenter" scan $paths --format sarif \
    -o "$work/carpenter.sarif" 2>/dev/null
  set -e
}
scan
t2=$(now)
scan
t3=$(now)
echo "install (cache miss: venv + runtime lock + carpenter): $(elapsed "$t0" "$t1") s"
echo "scan of $paths, first run after install:            $(elapsed "$t1" "$t2") s"
echo "scan, venv cached (an actions/cache hit):             $(elapsed "$t2" "$t3") s"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
