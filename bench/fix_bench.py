"""Benchmark: `carpenter fix` on 1,000 generated ML Dockerfiles, offline, bundled snapshot.

Prints figures only (no assertions):

    .venv/bin/python bench/fix_bench.py [--count 1000] [--seed 11] [--runs 3]

The corpus (bench/out/fix-corpus/, gitignored) comes from bench/ml_corpus.py and is reused
while its parameters are unchanged. One `carpenter fix DIR --format json` process covers every
file (what a user runs); it computes the diff and writes nothing. The network is not needed:
every version comes from carpenter/data/snapshots/neurips-2023.toml. A second, in-process
pass splits the time between scanning and fixing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(HERE))

from ml_corpus import generate  # noqa: E402


def corpus(out: Path, count: int, seed: int) -> list[Path]:
    marker = out / ".params.json"
    params = {"count": count, "seed": seed,
              "generator": (HERE / "ml_corpus.py").stat().st_mtime_ns}
    if marker.is_file() and json.loads(marker.read_text()) == params:
        return sorted(out.glob("*/Dockerfile"))
    files = generate(out, count, seed)
    marker.write_text(json.dumps(params))
    return files


def cli_run(folder: Path) -> tuple[float, dict]:
    # No proxy, no index: prove the fix needs no network.
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update({"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"})
    start = time.perf_counter()
    done = subprocess.run([str(BIN / "carpenter"), "fix", str(folder), "--format", "json"],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(f"carpenter fix failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, json.loads(done.stdout)


def in_process(files: list[Path]) -> tuple[float, float]:
    """(scan seconds, fix seconds) for the same files in this process."""
    from carpenter.fix.engine import FixOptions, fix_findings
    from carpenter.scan.engine import ScanOptions, scan_file
    from carpenter.snapshot.model import load_snapshot

    snapshot = load_snapshot("neurips-2023")
    options = FixOptions(snapshot, scan=ScanOptions())
    scan_s = fix_s = 0.0
    for path in files:
        start = time.perf_counter()
        findings = scan_file(str(path), options.scan).findings
        middle = time.perf_counter()
        fix_findings(str(path), findings, options)
        fix_s += time.perf_counter() - middle
        scan_s += middle - start
    return scan_s, fix_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "out" / "fix-corpus")
    args = parser.parse_args()

    files = corpus(args.out, args.count, args.seed)
    walls = []
    report: dict = {}
    for _ in range(args.runs):
        wall, report = cli_run(args.out)
        walls.append(wall)
    applied, skipped = len(report["applied"]), len(report["skipped"])
    by_category: dict[str, int] = {}
    for record in report["applied"]:
        by_category[record["category"]] = by_category.get(record["category"], 0) + 1
    reasons: dict[str, int] = {}
    for record in report["skipped"]:
        key = record["reason"].split(":")[0] if "snapshot" not in record["reason"] else \
            "not in snapshot / no snapshot entry"
        reasons[key[:70]] = reasons.get(key[:70], 0) + 1
    scan_s, fix_s = in_process(files)

    print(f"carpenter fix, {len(files)} Dockerfiles (bench/ml_corpus.py seed {args.seed}), "
          f"snapshot neurips-2023, offline, {os.cpu_count()} CPUs")
    print(f"  one CLI process, --format json: best {min(walls):.2f} s, median "
          f"{statistics.median(walls):.2f} s over {args.runs} runs "
          f"({len(files) / min(walls):.0f} files/s)")
    print(f"  in-process split: scan {scan_s:.2f} s, fix {fix_s:.2f} s "
          f"({1000 * fix_s / len(files):.2f} ms per file for fixing alone)")
    print(f"  fixes applied {applied}, not fixed {skipped}, files changed "
          f"{len(report['changed_files'])}")
    print("  applied by category: " + ", ".join(f"{k} {v}" for k, v in
                                                  sorted(by_category.items())))
    print("  not fixed, by reason: " + "; ".join(f"{k} ({v})" for k, v in
                                                  sorted(reasons.items(), key=lambda x: -x[1])))


if __name__ == "__main__":
    main()
