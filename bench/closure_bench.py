"""Benchmark (issue 11): how much of the fixable pip/base/git findings `fix --write` removes on
2023-shaped submissions, what is left and why, idempotence, time per submission online and
offline, uv resolution time per stage (warm cache) and pins per closure. Figures only.

    PYTHONPATH=. .venv/bin/python bench/closure_bench.py [--count 20] [--seed 3]

Online needs PyPI (uv at the snapshot's cut-off); registries/GitHub/hub may not answer here.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ml_corpus import generate_closure  # noqa: E402

from carpenter.fix.closure import resolve_stages  # noqa: E402
from carpenter.fix.engine import FixOptions, fix_paths  # noqa: E402
from carpenter.fix.output import write_in_place  # noqa: E402
from carpenter.model.dockerfile import load_dockerfile  # noqa: E402
from carpenter.snapshot.model import load_snapshot  # noqa: E402


def run_mode(subs: list[Path], online: bool) -> dict:
    options = FixOptions(load_snapshot(), online=online, jobs=1)
    before = after = changed_again = 0
    left: Counter[str] = Counter()
    times = []
    for sub in subs:
        start = time.perf_counter()
        first = fix_paths([str(sub)], options)
        write_in_place(first.files)
        times.append(time.perf_counter() - start)
        before += len(first.records)
        second = fix_paths([str(sub)], options)  # rescans the fixed submission
        after += len(second.records)
        changed_again += sum(1 for f in second.files if f.changed)
        for record in second.records:
            left[f"{record.rule} {record.category}: {record.reason[:90]}"] += 1
    return {"before": before, "after": after, "changed_again": changed_again, "left": left,
            "median_s": statistics.median(times), "max_s": max(times)}


def resolution(subs: list[Path]) -> tuple[list[float], list[int]]:
    snapshot = load_snapshot()
    times, pins = [], []
    for sub in subs:
        df = load_dockerfile(str(sub / "Dockerfile"), str(sub / "Dockerfile"))
        resolve_stages(df, str(sub), snapshot, True)  # warm uv's cache for this set
        start = time.perf_counter()
        closures = resolve_stages(df, str(sub), snapshot, True)
        times.append(time.perf_counter() - start)
        pins += [len(c.pins) for c in closures if c.checked and not c.error]
    return times, pins


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="closure-bench-") as tmp:
        corpus = Path(tmp) / "corpus"
        generate_closure(corpus, args.count, args.seed)
        subs = sorted(p.parent for p in corpus.glob("*/Dockerfile"))
        times, pins = resolution(subs)
        print(f"{len(subs)} submissions; uv resolution per submission (warm): median "
              f"{statistics.median(times):.2f} s, max {max(times):.2f} s; pins per closure: "
              f"median {statistics.median(pins)}, min {min(pins)}, max {max(pins)}")
        for online in (True, False):
            work = Path(tmp) / ("online" if online else "offline")
            shutil.copytree(corpus, work)
            found = run_mode(sorted(p.parent for p in work.glob("*/Dockerfile")), online)
            share = 1 - found["after"] / found["before"] if found["before"] else 1.0
            print(f"\n{'online' if online else 'offline'}: fixable findings {found['before']} -> "
                  f"{found['after']} left ({share:.0%} removed); second run changed "
                  f"{found['changed_again']} files; fix --write per submission median "
                  f"{found['median_s']:.2f} s, max {found['max_s']:.2f} s")
            for reason, count in found["left"].most_common(8):
                print(f"  {count:4d}  {reason}")


if __name__ == "__main__":
    main()
