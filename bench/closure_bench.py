"""Benchmark (issue 11): how much `fix --write` removes of the findings in fixable categories
on 2023-shaped submissions (bench/closure_corpus.py), what is left by rule and why,
idempotence (a second run changes nothing), time per submission online and offline, uv
resolution time per stage (warm cache) and pins per closure. Figures only.

    PYTHONPATH=. .venv/bin/python bench/closure_bench.py [--count 48] [--seed 3] [--no-mirror]

Modes: online (PyPI through uv; registries/GitHub/the hub may not answer: the figures say so),
online with a registry mirror the bench starts (Debian's `docker-registry` on loopback, with
locally built stand-in images pushed under each base's mirror path), and offline (`--offline`:
the bundled snapshot only). The stand-ins are `FROM scratch` images with a label naming the
reference they stand in for: their digests prove the mirror look-up path, not the digests of
the real images.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from closure_corpus import generate_closure  # noqa: E402

from carpenter.fix.closure import Closure, resolve_online, resolve_stages  # noqa: E402
from carpenter.fix.engine import FixOptions, fix_paths  # noqa: E402
from carpenter.fix.output import write_in_place  # noqa: E402
from carpenter.model.dockerfile import load_dockerfile  # noqa: E402
from carpenter.scan.engine import ScanOptions, scan_file  # noqa: E402
from carpenter.scan.registry import all_rules  # noqa: E402
from carpenter.snapshot.mirrors import parse_mirrors  # noqa: E402
from carpenter.snapshot.model import load_snapshot  # noqa: E402
from carpenter.snapshot.registry import DOCKER_HUB_HOST, Mirror, parse_image_name  # noqa: E402

FIXABLE_CATEGORIES = sorted({r.category for r in all_rules().values() if r.fixable})
# Where each registry's images live on the bench's mirror (Harbor-style project prefixes).
MIRROR_PREFIX = {DOCKER_HUB_HOST: "", "nvcr.io": "nvcr", "ghcr.io": "ghcr"}


@dataclass
class Tally:
    before: Counter = field(default_factory=Counter)  # (category, rule) -> findings
    after: Counter = field(default_factory=Counter)
    why: dict = field(default_factory=lambda: defaultdict(Counter))  # rule -> reason -> n
    changed_again: int = 0
    times: list[float] = field(default_factory=list)
    per_sub: dict = field(default_factory=dict)  # submission folder name -> (before, after)

    def share(self, categories: list[str] | None = None) -> tuple[int, int, float]:
        keep = (lambda key: True) if categories is None else (lambda key: key[0] in categories)
        before = sum(n for k, n in self.before.items() if keep(k))
        after = sum(n for k, n in self.after.items() if keep(k))
        return before, after, (1 - after / before) if before else 1.0


def findings(sub: Path) -> list:
    result = scan_file(str(sub / "Dockerfile"), ScanOptions())
    return [f for f in result.findings if f.category in FIXABLE_CATEGORIES]


def run_mode(subs: list[Path], options: FixOptions) -> Tally:
    tally = Tally()
    for sub in subs:
        found = findings(sub)
        for f in found:
            tally.before[(f.category, f.rule)] += 1
        start = time.perf_counter()
        first = fix_paths([str(sub)], options)
        write_in_place(first.files)
        tally.times.append(time.perf_counter() - start)
        second = fix_paths([str(sub)], options)  # rescans the fixed submission
        tally.changed_again += sum(1 for f in second.files if f.changed)
        reasons = {(r.rule, r.line): r.reason for r in second.records}
        left = findings(sub)
        tally.per_sub[sub.name] = (len(found), len(left))
        for f in left:
            tally.after[(f.category, f.rule)] += 1
            reason = reasons.get((f.rule, f.line)) or ("no automatic fix (rule not fixable): "
                                                       + f.message)
            tally.why[f.rule][_short(reason)] += 1
    return tally


def _short(reason: str) -> str:
    return " ".join(reason.split())[:150]


def print_mode(title: str, tally: Tally, subs: list[Path]) -> None:
    before, after, share = tally.share()
    print(f"\n== {title}: {len(subs)} submissions")
    print(f"findings in fixable categories: {before} -> {after} left ({share:.1%} removed)")
    for category in FIXABLE_CATEGORIES:
        b, a, s = tally.share([category])
        if b:
            print(f"  {category:22s} {b:4d} -> {a:3d}  ({s:.0%} removed)")
    fixable_rules = {rid for rid, r in all_rules().items() if r.fixable}
    fb = sum(n for (c, r), n in tally.before.items() if r in fixable_rules)
    fa = sum(n for (c, r), n in tally.after.items() if r in fixable_rules)
    print(f"  of which by fixable rules: {fb} -> {fa} ({1 - fa / fb if fb else 1:.1%} removed)")
    print(f"second run changed {tally.changed_again} files (idempotence)")
    print(f"fix --write per submission: median {statistics.median(tally.times):.2f} s, "
          f"mean {statistics.mean(tally.times):.2f} s, max {max(tally.times):.2f} s")
    print("left, by rule and why:")
    for rule, reasons in sorted(tally.why.items(), key=lambda kv: -sum(kv[1].values())):
        print(f"  {rule}: {sum(reasons.values())}")
        for reason, count in reasons.most_common(6):
            print(f"    {count:3d}  {reason}")


def print_kinds(tally: Tally, kinds: dict[str, str]) -> None:
    """The same share for each kind of submission (environment.yml ones apart)."""
    for kind in sorted(set(kinds.values())):
        pairs = [v for name, v in tally.per_sub.items() if kinds[name] == kind]
        before, after = sum(b for b, _ in pairs), sum(a for _, a in pairs)
        share = 1 - after / before if before else 1.0
        print(f"  {kind} submissions ({len(pairs)}): {before} -> {after} ({share:.1%} removed)")


# -- resolution -------------------------------------------------------------------------------

def resolution(subs: list[Path]) -> None:
    snapshot = load_snapshot()
    times, pins, errors, stages = [], [], 0, 0
    for sub in subs:
        df = load_dockerfile(str(sub / "Dockerfile"), str(sub / "Dockerfile"))
        for closure in resolve_stages(df, str(sub), snapshot, True):  # warms uv's cache
            stages += 1
            fresh = Closure(closure.stage, closure.python, closure.base, closure.inputs)
            start = time.perf_counter()
            resolve_online(fresh, snapshot)
            times.append(time.perf_counter() - start)
            if fresh.error:
                errors += 1
            elif fresh.checked:
                pins.append(len(fresh.lock_pins))
    print(f"uv resolution per stage (warm cache), {stages} stages of {len(subs)} submissions: "
          f"median {statistics.median(times):.2f} s, mean {statistics.mean(times):.2f} s, "
          f"max {max(times):.2f} s; {errors} stages unsatisfiable as written")
    if pins:
        print(f"pins per closure (lock, {len(pins)} resolved stages): median "
              f"{statistics.median(pins)}, min {min(pins)}, max {max(pins)}")


# -- the local mirror -------------------------------------------------------------------------

def base_refs(subs: list[Path]) -> list[str]:
    refs = set()
    for sub in subs:
        df = load_dockerfile(str(sub / "Dockerfile"), str(sub / "Dockerfile"))
        refs |= {s.base for s in df.stages if s.base and not s.is_stage_ref and "@" not in s.base}
    return sorted(refs)


def _docker(*args: str, timeout: float = 300) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "DOCKER_BUILDKIT": "0"})
    if done.returncode != 0:
        raise RuntimeError(f"docker {args[0]}: {done.stderr.strip()[-300:]}")
    return done.stdout


@contextlib.contextmanager
def local_mirror(refs: list[str], work: Path) -> Iterator[tuple[Mirror, ...]]:
    """docker-registry on loopback holding a stand-in for each base under its mirror path."""
    binary = shutil.which("docker-registry")
    if binary is None or shutil.which("docker") is None:
        raise RuntimeError("docker-registry or docker is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    work.mkdir(parents=True, exist_ok=True)
    config = work / "registry.yml"
    config.write_text(f"version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: "
                      f"{{rootdirectory: {work / 'data'}}}}}\nhttp: {{addr: '127.0.0.1:{port}'}}\n")
    log = open(work / "registry.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    pushed: list[str] = []
    try:
        _wait(port)
        context = work / "stand-in"
        context.mkdir()
        (context / "stand-in.txt").write_text("a stand-in base image for the closure bench\n")
        (context / "Dockerfile").write_text("FROM scratch\nARG REF\n"
                                            "LABEL org.carpenter.stand-in-for=$REF\n"
                                            "COPY stand-in.txt /\n")
        start = time.perf_counter()
        for ref in refs:
            name = parse_image_name(ref)
            prefix = MIRROR_PREFIX.get(name.host)
            if prefix is None:
                continue
            path = f"{prefix}/{name.repository}" if prefix else name.repository
            target = f"127.0.0.1:{port}/{path}:{name.tag}"
            _docker("build", "-q", "--build-arg", f"REF={ref}", "-t", target, str(context))
            _docker("push", target)
            pushed.append(target)
        print(f"mirror: docker-registry on 127.0.0.1:{port}; {len(pushed)} stand-in images "
              f"built and pushed in {time.perf_counter() - start:.1f} s (docker.io at the root, "
              "nvcr.io under nvcr/, ghcr.io under ghcr/)")
        yield tuple(parse_mirrors([f"http://127.0.0.1:{port}",
                                   f"nvcr.io=http://127.0.0.1:{port}/nvcr",
                                   f"ghcr.io=http://127.0.0.1:{port}/ghcr"], "the bench"))
    finally:
        for target in pushed:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                _docker("image", "rm", target)
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()


def _wait(port: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"docker-registry does not answer on 127.0.0.1:{port}")


# -- main -------------------------------------------------------------------------------------

def measure(title: str, corpus: Path, work: Path, kinds: dict[str, str],
            options: FixOptions) -> None:
    shutil.copytree(corpus, work)
    subs = sorted(p.parent for p in work.glob("*/Dockerfile"))
    tally = run_mode(subs, options)
    print_mode(title, tally, subs)
    print_kinds(tally, kinds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=48)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--no-mirror", action="store_true", help="skip the local-mirror run")
    args = parser.parse_args()
    snapshot = load_snapshot()
    with tempfile.TemporaryDirectory(prefix="closure-bench-") as tmp:
        corpus = Path(tmp) / "corpus"
        made = generate_closure(corpus, args.count, args.seed)
        subs = sorted(made)
        kinds = {path.name: kind for path, kind in made.items()}
        counts = Counter(kinds.values())
        print(f"corpus: {len(subs)} submissions (bench/closure_corpus.py seed {args.seed}): "
              + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
              + f"; snapshot {snapshot.name} (cut-off {snapshot.as_of})")
        print(f"fixable categories: {', '.join(FIXABLE_CATEGORIES)}")
        resolution(subs)
        online = FixOptions(snapshot, online=True, jobs=1, registry_mirrors=())
        measure("online (PyPI via uv; no mirror)", corpus, Path(tmp) / "online", kinds, online)
        if not args.no_mirror:
            try:
                with local_mirror(base_refs(subs), Path(tmp) / "mirror") as mirrors:
                    print("mirror digests are of locally built STAND-IN images, not of the "
                          "real bases")
                    measure("online with the local mirror", corpus, Path(tmp) / "via-mirror",
                            kinds, FixOptions(snapshot, online=True, jobs=1,
                                              registry_mirrors=mirrors))
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"\n== online with the local mirror: skipped ({exc})")
        offline = FixOptions(snapshot, online=False, jobs=1)
        measure("offline (--offline)", corpus, Path(tmp) / "offline", kinds, offline)


if __name__ == "__main__":
    main()
