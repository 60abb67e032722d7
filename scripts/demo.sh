#!/usr/bin/env bash
# The main job on the bundled fixtures: scan every sample submission, then show the pinning
# diff `carpenter fix` proposes against the bundled neurips-2023 snapshot (nothing is written).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
mkdir -p bench/out/demo
set +e
.venv/bin/carpenter scan fixtures/submissions "$@"
scan_status=$?
.venv/bin/carpenter fix fixtures/submissions > bench/out/demo/fix.diff
fix_status=$?
set -e
echo
echo "carpenter fix: $(grep -c '^+++ ' bench/out/demo/fix.diff) files would change;" \
     "diff in bench/out/demo/fix.diff"
# Exit 1 means "findings were reported / some findings need a human", which is what the
# fixtures are for; 2 or more means something could not run.
[ "$scan_status" -le 1 ] && [ "$fix_status" -le 1 ] || exit 2
