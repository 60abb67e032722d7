#!/usr/bin/env bash
# Run the smoke harness directly (no Docker) on a GPU machine that has torch, transformers and
# peft installed; print the results. At most ~410 s: runs are capped at 80 + 45 + 45 + 90
# + 150 s.
#
#   bash bench/gpu_smoke.sh                 # uses python3 from PATH
#   PYTHON=/path/to/python bash bench/gpu_smoke.sh
#
# Runs: 1) --device cuda (fp32 LoRA checks, bf16/fp16 autocast step, bitsandbytes 8/4-bit LoRA
# when bitsandbytes is installed), 2) the same seed again to compare GPU losses across runs,
# 3) --device cpu with one thread for reference, 4) the own-code server budget and memory,
# 5) the own training entry point (smoke --train). Exit status: that of the CUDA run.
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

# 4) Own-code budget + memory (issue 12): build a tiny Mistral under its hub id with the builder
# smoke uses, serve it with the starter-kit-shaped fixture server (uvicorn + fastapi needed),
# time HELM-shaped requests with carpenter.smoke.budget and sample GPU memory with nvidia-smi.
# Tiny weights: this times the code path and the machine, not a 7 B model. At most ~90 s.
echo; echo "== own-code budget + memory (tiny Mistral, fixture server)"
if "$PY" -c 'import fastapi, uvicorn' 2>/dev/null; then
    SPEC=$(PYTHONPATH="$ROOT" "$PY" -c 'import json,sys
from carpenter.smoke import tinymodel
todo = tinymodel.plan(tinymodel.load_shapes(), ["mistralai/Mistral-7B-v0.1"], {}, "bench")
print(json.dumps({"out": sys.argv[1], "models": todo.models}))' "$OUT/hf/hub")
    timeout 60 "$PY" -B "$ROOT/carpenter/smoke/harness/tiny_model.py" "$SPEC" | tail -c 300; echo
    ( cd "$ROOT/fixtures/smoke/server-hub" && exec env HF_HUB_OFFLINE=1 timeout 90 "$PY" -m uvicorn \
        server:app --host 127.0.0.1 --port 18080 >"$OUT/server.log" 2>&1 ) &
    SERVER_PID=$!
    ( for _ in $(seq 1 180); do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null; sleep 0.5; done ) >"$OUT/gpu_mem.txt" &
    SAMPLER_PID=$!
    PYTHONPATH="$ROOT" timeout 80 "$PY" - <<'EOF'
import json, time, urllib.request
from carpenter.smoke import budget
spec = budget.load_budget("neurips-2023")
def post(path, body):
    req = urllib.request.Request("http://127.0.0.1:18080" + path, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as resp:
        json.load(resp)
    return time.perf_counter() - start
for _ in range(120):
    try:
        post("/tokenize", {"text": "hi"}); break
    except Exception:
        time.sleep(0.5)
times = [post("/process", b) for b in budget.request_bodies(spec, {"prompt": "x"}, 20)]
mean = sum(times) / len(times)
print("requests/s %.2f, mean %.3f s, max %.3f s" % (len(times) / sum(times), mean, max(times)))
for name, ok, text in budget.stage_verdicts(spec, mean):
    print("  %-6s %s" % (name, text))
EOF
    echo "GPU memory used (MiB), max over the run: $(sort -n "$OUT/gpu_mem.txt" | tail -n 1 | grep . || echo "n/a (no nvidia-smi)")"
    kill "$SERVER_PID" "$SAMPLER_PID" 2>/dev/null; wait "$SERVER_PID" "$SAMPLER_PID" 2>/dev/null
else
    echo "skipped: fastapi/uvicorn not installed for $PY"
fi
# 5) Own training entry point (issue 12, smoke --train): a tiny Llama under
# meta-llama/Llama-2-7b-hf, the 2023-style fixture train.py (LoRA + Trainer, reads MAX_STEPS and
# DATASET_PATH) on the tiny dataset smoke mounts, on the GPU when torch sees one; how far it got
# is judged by carpenter.smoke.training from its log and exit code. At most ~150 s.
echo; echo "== own training entry point (tiny Llama-2, fixtures/smoke/train-lora/train.py)"
mkdir -p "$OUT/data" "$OUT/train-out"
SPEC=$(PYTHONPATH="$ROOT" "$PY" -c 'import json,sys
from pathlib import Path
from carpenter.smoke import tinymodel, training
training.write_dataset(Path(sys.argv[2]), training.load_table().rows)
todo = tinymodel.plan(tinymodel.load_shapes(), ["meta-llama/Llama-2-7b-hf"], {}, "bench")
print(json.dumps({"out": sys.argv[1], "models": todo.models}))' "$OUT/hf/hub" "$OUT/data")
timeout 60 "$PY" -B "$ROOT/carpenter/smoke/harness/tiny_model.py" "$SPEC" | tail -c 300; echo
( for _ in $(seq 1 200); do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null; sleep 0.5; done ) >"$OUT/train_gpu_mem.txt" &
SAMPLER_PID=$!
start=$(date +%s%N)
env MAX_STEPS=2 DATASET_PATH="$OUT/data/train.jsonl" OUTPUT_DIR="$OUT/train-out" WANDB_MODE=disabled \
    timeout 90 "$PY" -B "$ROOT/fixtures/smoke/train-lora/train.py" >"$OUT/train.log" 2>&1
train_rc=$?
end=$(date +%s%N)
kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null
PYTHONPATH="$ROOT" "$PY" - "$OUT/train.log" "$train_rc" "$(( (end - start) / 1000000 ))" <<'EOF'
import sys
from pathlib import Path
from carpenter.smoke import training
from carpenter.smoke.result import TrainResult
log, rc, ms = Path(sys.argv[1]).read_text(errors="replace"), int(sys.argv[2]), int(sys.argv[3])
out = TrainResult(wall_s=ms / 1000)
training.judge(out, log, None if rc == 124 else rc, False, rc == 124, 90, training.load_table())
print(f"stage {out.stage}, {out.steps_logged} step line(s), exit {rc}, {ms / 1000:.1f} s")
for stage, line in out.evidence.items():
    print(f"  {stage}: {line}")
if out.failure:
    print(f"  failure {out.failure['class']}: {out.failure['evidence']}")
EOF
echo "GPU memory used (MiB), max over the run: $(sort -n "$OUT/train_gpu_mem.txt" | tail -n 1 | grep . || echo "n/a (no nvidia-smi)")"
exit "$cuda_rc"
