"""Benchmark: the git-history secret scan (SEC004) and the context secret scan (SEC002).

Builds a synthetic repository at run time with `git fast-import` (N commits, each changing F
text files of L lines; a few tokens committed and later deleted), then times:

- `carpenter.model.history.scan_history` (one `git log -p` stream + Carpenter's regexes):
  commits/s, file changes/s, MB of diff/s;
- `carpenter.scan.secrets.context_secrets` over the final working tree (prefilter +
  detect-secrets with Carpenter's plugins): files/s.

Prints figures only (no assertions):

    .venv/bin/python bench/history_bench.py                    # 2,000 commits x 5 files
    .venv/bin/python bench/history_bench.py --commits 500 --files-per-commit 20
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def token(rng: random.Random) -> str:
    return "hf_" + "".join(rng.choice(string.ascii_letters) for _ in range(34))


def source_text(rng: random.Random, lines: int, secret: str | None) -> str:
    words = ["model", "tokenizer", "train", "batch", "lr", "epoch", "loss", "path", "config"]
    out = []
    for index in range(lines):
        a, b = rng.choice(words), rng.choice(words)
        out.append(f"{a}_{index} = {b}({rng.randint(0, 10_000)}, '{a}/{b}')")
    if secret:
        out.insert(rng.randrange(len(out)), f'HF_TOKEN = "{secret}"')
    return "\n".join(out) + "\n"


def build_repo(path: Path, commits: int, per_commit: int, lines: int, files: int,
               leaks: int, seed: int) -> tuple[int, list[str]]:
    """A repository written through one `git fast-import` stream; returns (bytes, tokens)."""
    rng = random.Random(seed)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    leak_at = set(rng.sample(range(commits // 2), min(leaks, commits // 2)))
    tokens = []
    stream = []
    total = 0
    stamp = 1_700_000_000
    for number in range(commits):
        stream.append(f"commit refs/heads/main\nmark :{number + 1}\n"
                      f"committer Bench <b@example.org> {stamp + number} +0000\n")
        message = f"change {number}\n"
        stream.append(f"data {len(message)}\n{message}")
        if number:
            stream.append(f"from :{number}\n")
        for _ in range(per_commit):
            name = f"src/module_{rng.randrange(files):04}.py"
            secret = None
            if number in leak_at:
                secret = token(rng)
                tokens.append(secret)
                leak_at.discard(number)
            body = source_text(rng, lines, secret).encode()
            total += len(body)
            stream.append(f"M 100644 inline {name}\ndata {len(body)}\n")
            stream.append(body.decode() + "\n")
    data = "".join(stream).encode()
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=data, check=True)
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=path, check=True)
    return total, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--files-per-commit", type=int, default=5)
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--files", type=int, default=400, help="distinct files in the tree")
    parser.add_argument("--leaks", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from carpenter.model.context import BuildContext, clear_caches
    from carpenter.model.history import clear_cache, scan_history
    from carpenter.scan.secrets import context_secrets

    with tempfile.TemporaryDirectory(prefix="carpenter-history-") as tmp:
        repo = Path(tmp) / "repo"
        started = time.perf_counter()
        size, tokens = build_repo(repo, args.commits, args.files_per_commit, args.lines,
                                  args.files, args.leaks, args.seed)
        print(f"repository: {args.commits} commits x {args.files_per_commit} files "
              f"({args.lines} lines), {size / 1e6:.1f} MB of file versions, "
              f"{len(tokens)} tokens committed; built in {time.perf_counter() - started:.1f} s")
        times = []
        result = None
        for _ in range(args.repeat):
            clear_cache()
            started = time.perf_counter()
            result = scan_history(str(repo), max_commits=max(args.commits, 1))
            times.append(time.perf_counter() - started)
        assert result is not None
        best, median = min(times), statistics.median(times)
        found = {s.value for s in result.secrets}
        print(f"history scan: {result.commits} commits, {result.file_changes} file changes, "
              f"{result.added_lines} added lines, {result.bytes / 1e6:.1f} MB of diff; "
              f"tokens found {len(found & set(tokens))}/{len(tokens)}, "
              f"truncated={result.truncated}")
        print(f"  best {best:.2f} s, median {median:.2f} s over {args.repeat} runs")
        print(f"  {result.commits / best:,.0f} commits/s, {result.file_changes / best:,.0f} "
              f"file changes/s, {result.bytes / 1e6 / best:.1f} MB/s")

        times = []
        files = 0
        for _ in range(args.repeat):
            clear_caches()
            started = time.perf_counter()
            context = BuildContext.load(str(repo), None)
            scanned = context_secrets(context)
            times.append(time.perf_counter() - started)
            files = scanned.files
        best = min(times)
        print(f"context secret scan (working tree): {files} text files in {best:.2f} s "
              f"= {files / best:,.0f} files/s (walk + prefilter + detect-secrets)")
        print(f"cpu count {os.cpu_count()}, python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
