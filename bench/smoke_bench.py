"""Smoke time per test image on CPU (one torch thread), split into phases.

    .venv/bin/python bench/smoke_bench.py [--runs 3] [IMAGE_NAME ...]

IMAGE_NAME is a fixture image from tests/smoke/smoke_images.py (built if missing; default:
current era2023 nopeft). Phases: container start (create + start API calls), imports (torch,
transformers, peft), training (tokenizer, model, 20 LoRA steps), checks (save/reload, merge,
generation, same-seed rerun), overhead (interpreter start, exit and wait: container wall minus
the rest). Prints min / median / max over the runs; the target is <= 15 s per smoke.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "smoke"))

PHASES = ["container_start", "imports", "training", "checks", "overhead", "container_wall"]


def one_run(client, tag: str) -> dict[str, float]:
    from carpenter.smoke.runner import SmokeOptions, smoke

    result = smoke(tag, SmokeOptions(gpu="none", timeout=600), client=client)
    t = dict(result.timings)
    t["overhead"] = t["container_wall"] - t.get("container_start", 0) - t.get("harness_total", 0)
    t["passed"] = float(result.passed)
    return t


def fmt(values: list[float]) -> str:
    return f"{min(values):5.2f} / {statistics.median(values):5.2f} / {max(values):5.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("images", nargs="*", default=["current", "era2023", "nopeft"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import docker
    from smoke_images import ensure_image

    client = docker.from_env(timeout=900)
    print(f"# smoke bench, {args.runs} runs per image, CPU, 1 torch thread; "
          f"seconds min / median / max; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs", flush=True)
    for name in args.images:
        started = time.monotonic()
        tag = ensure_image(client, name)
        print(f"\n## {name}: {tag} (ready in {time.monotonic() - started:.1f} s)", flush=True)
        runs = [one_run(client, tag) for _ in range(args.runs)]
        for phase in PHASES:
            values = [r.get(phase, 0.0) for r in runs]
            print(f"  {phase:16} {fmt(values)}")
        print(f"  passed           {sum(r['passed'] for r in runs):.0f}/{len(runs)}"
              f"   (load average now {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
