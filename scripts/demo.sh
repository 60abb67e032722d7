#!/usr/bin/env bash
# The main job on the bundled fixtures: `carpenter batch` over every sample submission (scan,
# then the pinning fix into a repaired copy, against the bundled neurips-2023 snapshot), with
# results.csv, results.json and one self-contained HTML report. Needs no Docker engine; add
# `--stages scan,fix,rebuild,smoke` to build and smoke too (scripts/engine.sh starts an engine).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
out="${CARPENTER_DEMO_OUT:-bench/out/demo}"
rm -rf "$out"
set +e
.venv/bin/carpenter batch fixtures/submissions --out "$out" --stages scan,fix "$@"
status=$?
set -e
# Verdict exit codes (repaired / needs-human) mean the fixtures did their job; 2 means
# something could not run.
[ "$status" -ne 2 ] || exit 2
