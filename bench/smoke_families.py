"""Time `carpenter smoke --server` with a tiny stand-in model, one architecture family at a time.

    .venv/bin/python bench/smoke_families.py [IMAGE]

IMAGE is a server image that loads `$MODEL_ID` at start-up (default: the newest
carpenter-smoke/server-hub image, built by tests/smoke/smoke_images.py). Each family runs twice:
the first run builds the tiny model into the host cache, the second takes it from there. CPU
only; the figures prove the code path, not the real model's speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

FAMILIES = {
    "llama": "meta-llama/Llama-2-7b-hf",
    "mistral": "mistralai/Mistral-7B-v0.1",
    "qwen2": "Qwen/Qwen1.5-7B",
    "falcon": "tiiuae/falcon-7b",
    "phi": "microsoft/phi-2",
    "gpt_neox": "EleutherAI/pythia-1b",
    "gpt2": "gpt2-medium",
}


def newest_server_hub() -> str:
    out = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}",
                          "carpenter-smoke/server-hub"], capture_output=True, text=True,
                         check=True).stdout.split()
    if not out:
        sys.exit("no carpenter-smoke/server-hub image: run the smoke engine tests first")
    return out[0]


def run(image: str, model: str) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "carpenter.cli", "smoke", image, "--no-harness", "--server",
         "--gpu", "none", "--env", f"MODEL_ID={model}", "--model", model,
         "--budget-requests", "5", "--format", "json"],
        capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    try:
        return seconds, json.loads(done.stdout)
    except ValueError:
        return seconds, {"passed": False, "error": done.stderr[-300:]}


def main() -> None:
    image = sys.argv[1] if len(sys.argv) > 1 else newest_server_hub()
    print(f"image {image}")
    print(f"{'family':<10} {'repo id':<28} {'cold s':>7} {'cached s':>8}  result")
    for family, model in FAMILIES.items():
        cold, _ = run(image, model)
        warm, data = run(image, model)
        verdict = "passed" if data.get("passed") else f"FAILED {data.get('error', '')[:80]}"
        server = data.get("server") or {}
        failure = server.get("failure") or {}
        if failure:
            verdict += f" ({failure.get('class')}: {str(failure.get('evidence'))[:60]})"
        print(f"{family:<10} {model:<28} {cold:7.1f} {warm:8.1f}  {verdict}", flush=True)


if __name__ == "__main__":
    main()
