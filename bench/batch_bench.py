"""`carpenter batch --stages scan,fix` over generated submissions, and batch's own overhead.

    python bench/batch_bench.py [--count 1000] [--bare 100]

Prints: the batch's wall time for COUNT submissions (goal <= 30 s on 2 cores); the sum of the
stage durations it recorded; the bare stages (scan_paths + fix_findings, in-process, one
process) per submission on the first BARE submissions; and batch overhead per submission
(wall x workers - stage time) / COUNT: pool hand-off, SQLite commits, exports.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def bare_stages(folders: list[Path]) -> float:
    """Seconds per submission for scan + fix written to a copy, without batch around them."""
    from carpenter.pipeline.stages import CheckOptions, Submission, run_stages

    options = CheckOptions(stages=("scan", "fix"))
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        for folder in folders:
            sub = Submission(folder.name, str(folder), work=str(Path(work) / folder.name))
            run_stages(["scan", "fix"], sub, options, {})
        return (time.perf_counter() - started) / len(folders)


def main() -> None:
    from ml_corpus import generate

    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--bare", type=int, default=100)
    args = parser.parse_args()
    workers = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="carpenter-batch-bench-") as tmp:
        corpus = Path(tmp) / "corpus"
        folders = [p.parent for p in generate(corpus, args.count, 7)]
        out = Path(tmp) / "out"
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "carpenter.cli", "batch", str(corpus),
                               "--out", str(out), "--stages", "scan,fix"],
                              capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(proc.stderr[-2000:])
        with sqlite3.connect(out / "state.db") as con:
            stage_s, rows = con.execute("SELECT sum(duration_s), count(*) FROM stages").fetchone()
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "carpenter.cli", "batch", str(corpus), "--out",
                        str(out), "--stages", "scan,fix"], capture_output=True, check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        resume = time.perf_counter() - started
        bare = bare_stages(folders[: args.bare])
    print(f"submissions: {len(folders)}  workers: {workers}")
    print(f"batch --stages scan,fix: {wall:.1f} s wall ({rows} stage rows)")
    print(f"stage time recorded: {stage_s:.1f} s ({stage_s / len(folders) * 1000:.1f} ms per "
          "submission)")
    print(f"bare scan+fix in-process: {bare * 1000:.1f} ms per submission "
          f"(first {min(args.bare, len(folders))})")
    overhead = (wall * workers - stage_s) / len(folders)
    print(f"batch overhead: {overhead * 1000:.1f} ms per submission "
          "(wall x workers - stage time, start-up and exports included)")
    print(f"rerun with everything committed (resume, nothing to do): {resume:.1f} s")


if __name__ == "__main__":
    main()
