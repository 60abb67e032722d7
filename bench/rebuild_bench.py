"""Rebuild figures on the real engine: cold vs cached build, and cancel latency.

    .venv/bin/python bench/rebuild_bench.py [--cold-runs 3] [--cancel-runs 10] [--deadline 5]

Cold = `--no-cache` build of fixtures/rebuild/ok-wheelhouse (offline wheelhouse, network none);
cached = the same build again with the cache. Cancel latency = time from the wall-clock deadline
to `rebuild()` returning, on fixtures/rebuild/timeout (`RUN ... sleep 613`), per backend.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "build"))

from rebuild_wheelhouse import stage_fixture  # noqa: E402

from carpenter.rebuild.interface import BuildRequest  # noqa: E402
from carpenter.rebuild.rebuild import rebuild  # noqa: E402

FIXTURES = ROOT / "fixtures" / "rebuild"
TAG = "carpenter-bench/rebuild:latest"
BUILT: set[str] = set()  # image ids to remove at the end (cold rebuilds leave old ids dangling)


def timed_build(request: BuildRequest, log: Path) -> tuple[float, str, dict[str, float]]:
    start = time.monotonic()
    result = rebuild(request, log)
    status = result.status + (f" {result.failure_class}" if result.failure_class else "")
    if result.image_id:
        BUILT.add(result.image_id)
    return time.monotonic() - start, status, result.timings


def summary(values: list[float]) -> str:
    return (f"n={len(values)} min {min(values):.2f} s, median {statistics.median(values):.2f} s,"
            f" max {max(values):.2f} s")


def bench_cache(work: Path, runs: int) -> None:
    ctx = stage_fixture(FIXTURES / "ok-wheelhouse", work / "ok-wheelhouse")
    cold, cached, cold_build, cached_build = [], [], [], []
    for _ in range(runs):
        req = BuildRequest(context=ctx, dockerfile=ctx / "Dockerfile", tag=TAG, network="none",
                           no_cache=True)
        seconds, status, timings = timed_build(req, work / "cold.log")
        assert status == "built", status
        cold.append(seconds)
        cold_build.append(timings["build_s"])
        req.no_cache = False
        seconds, status, timings = timed_build(req, work / "cached.log")
        cached.append(seconds)
        cached_build.append(timings["build_s"])
    ratio = statistics.median(cached) / statistics.median(cold)
    print(f"cold build   (--no-cache, legacy, network none): {summary(cold)}")
    print(f"cached build (same context, legacy):             {summary(cached)}")
    print(f"cached/cold median ratio: {ratio:.1%} (target <= 5%)")
    print("  (whole rebuild(): connect, pre-flight, build, image inspect, pip freeze; the cold")
    print("   run's freeze runs a container, the cached run reuses it by image id)")
    print(f"  build step only: cold {summary(cold_build)}; cached {summary(cached_build)}")


def bench_cancel(work: Path, runs: int, deadline: float) -> None:
    ctx = stage_fixture(FIXTURES / "timeout", work / "timeout")
    for backend in ("legacy", "buildkit"):
        latencies = []
        for _ in range(runs):
            req = BuildRequest(context=ctx, dockerfile=ctx / "Dockerfile", tag=TAG,
                               timeout=deadline, backend=backend)
            seconds, status, _ = timed_build(req, work / "cancel.log")
            assert status == "failed timeout", status
            latencies.append(seconds - deadline)
        print(f"cancel latency, {backend:8s} (deadline {deadline:g} s -> return): "
              f"{summary(latencies)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--cancel-runs", type=int, default=10)
    parser.add_argument("--deadline", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="carpenter-bench-") as tmp:
        bench_cache(Path(tmp), args.cold_runs)
        bench_cancel(Path(tmp), args.cancel_runs, args.deadline)
    cleanup()


def cleanup() -> None:
    import docker

    client = docker.APIClient(version="auto")
    for image in [TAG, *BUILT]:
        with contextlib.suppress(docker.errors.APIError):  # already gone with the tag
            client.remove_image(image, force=True)


if __name__ == "__main__":
    main()
