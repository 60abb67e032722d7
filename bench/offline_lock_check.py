"""Do offline locks hold up? Resolve each fixed submission as pip would at build time, today.

For a few submission shapes whose ranges or base push a version away from the snapshot's,
runs `carpenter fix --offline` (in memory), then resolves the fixed stage with uv against
today's PyPI (no date filter: what a build gets now) with the lock as constraints; what the
base image ships counts as installed. Prints, per case: whether it resolves, how many exact
pins and bounds the lock has, and how many resolved versions were released after the
cut-off (absent from the dated index view; packages the view does not cover, and
pip/setuptools/wheel, which the lock leaves free, are not counted). Needs PyPI.

    python bench/offline_lock_check.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from carpenter.fix.closure import BUILD_TOOLS, base_facts, dated_index
from carpenter.fix.engine import FixOptions, fix_paths
from carpenter.snapshot.create import PYPI, find_uv, isolated_env, parse_pins
from carpenter.snapshot.model import load_snapshot

CASES = {
    "starter-kit range": ("FROM python:3.10-slim",
                          ["fastapi>=0.68.0,<0.69.0", "peft", "uvicorn"]),
    "old fastapi + sse-starlette": ("FROM python:3.10-slim",
                                    ["fastapi>=0.68.0,<0.69.0", "sse-starlette", "pydantic"]),
    "old transformers": ("FROM python:3.10-slim",
                         ["transformers>=4.30,<4.31", "peft", "accelerate", "datasets"]),
    "torch 2.0.1 base": ("FROM pytorch/pytorch:2.0.1-cuda11.7-cudnn8-runtime",
                         ["peft", "bitsandbytes", "trl", "xformers"]),
    "written old torch": ("FROM python:3.10-slim",
                          ["torch==2.0.1", "transformers", "sentence-transformers"]),
    "pins after the cut-off": ("FROM python:3.10-slim",
                               ["torch", "transformers>=4.34", "peft==0.6.2", "accelerate",
                                "bitsandbytes==0.41.2.post2", "scipy==1.11.4"]),
}


def main() -> int:
    snapshot = load_snapshot("neurips-2023")
    index = dated_index(snapshot)
    uv_bin = find_uv()
    failed = 0
    for label, (base, lines) in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            quoted = " ".join(f"'{line}'" for line in lines)
            (root / "Dockerfile").write_text(f"{base}\nRUN pip install {quoted}\n")
            report = fix_paths([str(root)], FixOptions(snapshot))
            fixed = next((f.after for f in report.files if f.path.endswith("Dockerfile")),
                         (root / "Dockerfile").read_text())
            lock = next((f.after for f in report.files if "constraints" in f.path), "")
            reqs = fixed.rsplit("pip install ", 1)[1].split("'")
            reqs = [r.strip() for r in " ".join(reqs).split() if r.strip()]
            # What the base image ships is installed already: pip must keep it.
            facts = base_facts(base.split()[1])
            reqs += [f"{n}=={v}" for n, v in (facts.preinstalled if facts else {}).items()]
            (root / "in.txt").write_text("\n".join(reqs) + "\n")
            (root / "lock.txt").write_text(lock)
            done = subprocess.run(
                [uv_bin, "pip", "compile", "in.txt", "-c", "lock.txt", "--no-config",
                 "--index-url", PYPI, "--python-version", "3.10", "--python-platform",
                 "x86_64-unknown-linux-gnu", "--no-header", "--no-annotate", "--quiet"],
                cwd=root, env=isolated_env(), capture_output=True, text=True, timeout=600)
        pins = parse_pins(done.stdout)
        late = sorted(f"{n}=={v}" for n, v in pins.items()
                      if index is not None and n in index and n not in BUILD_TOOLS
                      and all(str(r.version) != v for r in index.releases[n]))
        exact = sum(1 for line in lock.splitlines() if "==" in line)
        bounds = sum(1 for line in lock.splitlines() if "<=" in line and "# bound" in line)
        state = "resolves" if done.returncode == 0 else "FAILS"
        failed += done.returncode != 0
        print(f"{label:30s} {state:8s} lock: {exact:3d} exact, {bounds:3d} bounds; "
              f"resolved {len(pins):3d}, after the cut-off: {len(late)} {' '.join(late[:6])}")
        if done.returncode != 0:
            print("   ", " ".join(done.stderr.strip().splitlines()[-3:])[:400])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
