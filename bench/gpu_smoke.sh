#!/usr/bin/env bash
# Run the smoke harness directly (no Docker) on a GPU machine that has torch, transformers and
# peft installed; print the results. At most 170 s: runs are capped at 80 + 45 + 45 s.
#
#   bash bench/gpu_smoke.sh                 # uses python3 from PATH
#   PYTHON=/path/to/python bash bench/gpu_smoke.sh
#
# Runs: 1) --device cuda (fp32 LoRA checks, bf16/fp16 autocast step, bitsandbytes 8/4-bit LoRA
# when bitsandbytes is installed), 2) the same seed again to compare GPU losses across runs,
# 3) --device cpu with one thread for reference. Exit status: that of the CUDA run.
set -uo pipefail

PY="${PYTHON:-python3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
HARNESS="$ROOT/carpenter/smoke/harness/smoke_harness.py"
OUT="$(mktemp -d /tmp/carpenter-gpu-smoke.XXXXXX)"
trap 'rm -rf "$OUT"' EXIT
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HOME="$OUT/hf" TOKENIZERS_PARALLELISM=false
export CUBLAS_WORKSPACE_CONFIG=:4096:8 PYTHONDONTWRITEBYTECODE=1

echo "== machine"
date -u +"%Y-%m-%dT%H:%M:%SZ"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi unavailable"
"$PY" --version

run() {  # run NAME TIMEOUT ARGS...
    local name="$1" limit="$2"; shift 2
    local start end
    start=$(date +%s%N)
    timeout "$limit" "$PY" -B "$HARNESS" --workdir "$OUT/$name" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
    local rc=$?
    end=$(date +%s%N)
    printf '\n== %s (exit %s, wall %d ms)\n' "$name" "$rc" "$(( (end - start) / 1000000 ))"
    if [[ $rc == 124 ]]; then echo "timed out after ${limit}s"; tail -n 20 "$OUT/$name.err"; fi
    return $rc
}

show() {  # pretty-print the result line of run NAME
    "$PY" - "$OUT/$1.out" <<'EOF'
import json, sys
marker = "CARPENTER_SMOKE_RESULT "
lines = [l for l in open(sys.argv[1]) if l.startswith(marker)]
if not lines:
    print("no result line"); sys.exit(0)
d = json.loads(lines[-1][len(marker):])
print("status:  ", d["status"], "| device:", d["device"], "| tokenizer:", d["tokenizer"])
print("versions:", ", ".join("%s %s" % (k, v) for k, v in sorted(d["versions"].items())))
if d["losses"]:
    print("losses:   %.6f -> %.6f (%d steps)" % (d["losses"][0], d["losses"][-1], len(d["losses"])))
for c in d["checks"]:
    print("  %-4s %-28s %s" % (c["status"].upper(), c["name"], c["detail"]))
print("timings: ", ", ".join("%s %.2fs" % kv for kv in sorted(d["timings"].items())),
      "| peak RSS %s MB" % d["peak_rss_mb"])
EOF
}

losses() {
    "$PY" -c 'import json,sys; m="CARPENTER_SMOKE_RESULT "; print(json.dumps([json.loads(l[len(m):]) for l in open(sys.argv[1]) if l.startswith(m)][-1]["losses"]))' "$1" 2>/dev/null
}

run cuda 80 --device cuda; cuda_rc=$?
show cuda
[[ $cuda_rc != 0 ]] && tail -n 15 "$OUT/cuda.err"

if [[ "$(losses "$OUT/cuda.out")" == \[[0-9]* ]]; then
    run cuda-again 45 --device cuda
    "$PY" - "$(losses "$OUT/cuda.out")" "$(losses "$OUT/cuda-again.out")" <<'EOF'
import json, sys
try:
    a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    print("max |loss diff| between two CUDA runs (same seed): %.3g" % max(abs(x - y) for x, y in zip(a, b)))
except Exception as exc:
    print("cannot compare CUDA runs:", exc)
EOF
fi

OMP_NUM_THREADS=1 run cpu 45 --device cpu
show cpu
exit "$cuda_rc"
