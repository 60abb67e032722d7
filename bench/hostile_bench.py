"""Benchmark: the worst case of each adversarial input family, scan and fix, one process each.

Prints wall time and peak RSS per family against the budget (5 s, 500 MB), no assertions:

    .venv/bin/python bench/hostile_bench.py [--only NAME] [--budget-s 5] [--budget-mb 500]

Inputs are generated under bench/out/hostile/ (gitignored). Each case runs the installed entry
point (`python -m carpenter.cli`) in a fresh process with the result cache off, so the figures
include start-up (~0.7 s) as a user sees it. Peak RSS comes from wait4() of that process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "hostile"
TOKEN_URL = "https://user:Xk29fjQp8LmZr4TyWv7N@example.com/simple"


def _write(name: str, text: str, extra: dict[str, str] | None = None) -> Path:
    folder = OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(text)
    for rel, body in (extra or {}).items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    return folder / "Dockerfile"


def _cases() -> dict[str, tuple[str, Callable[[], Path]]]:
    head = "FROM python:3.11\n"
    return {
        "and-chain-12k": ("scan", lambda: _write(
            "and-chain", head + "RUN " + " && ".join(f"echo {i}" for i in range(1000)) + "\n")),
        "and-chain-12k-fix": ("fix", lambda: _write(
            "and-chain-fix", head + "RUN " + " && ".join(
                f"pip install pkg{i}" for i in range(1000)) + "\n")),
        "nested-parens-1000": ("scan", lambda: _write(
            "parens", head + "RUN " + "( " * 1000 + "echo hi" + " )" * 1000 + "\n")),
        "nested-subst-500": ("scan", lambda: _write(
            "subst", head + "RUN echo " + "$( echo " * 500 + "hi" + " )" * 500 + "\n")),
        "env-expansion-3x18": ("scan", lambda: _write(
            "expansion", head + "ENV A=x\n" + "ENV A=${A}${A}${A}\n" * 18 + "RUN echo $A\n")),
        "url-line-200k": ("scan", lambda: _write(
            "url-200k", head + "RUN echo " + "a" * 200_000 + f" {TOKEN_URL}\n")),
        "url-line-3m": ("scan", lambda: _write(
            "url-3m", head + "RUN echo " + "a" * 3_000_000 + f" {TOKEN_URL}\n")),
        "redact-line-200k": ("redact", lambda: _write(
            "url-200k", head + "RUN echo " + "a" * 200_000 + f" {TOKEN_URL}\n")),
        "redact-line-3m": ("redact", lambda: _write(
            "url-3m", head + "RUN echo " + "a" * 3_000_000 + f" {TOKEN_URL}\n")),
        "dockerignore-star-2k": ("scan", lambda: _write(
            "dockerignore", head + "COPY . /app\n",
            {".dockerignore": "*a" * 1000 + "*b\n" + ("**/" + "?*" * 20 + "b\n"),
             **{f"{'a' * 60}/{'a' * 80}{i}.txt": "x" for i in range(200)}})),
        "run-echo-8mb": ("scan", lambda: _write(
            "echo-8mb", head + "RUN echo done\n" * (8_000_000 // 14))),
        "pip-install-8mb": ("scan", lambda: _write(
            "pip-8mb", head + "RUN pip install numpy torch\n" * (8_000_000 // 28))),
        "heredoc-50k-fix": ("fix", lambda: _write(
            "heredoc-50k", head + "RUN <<EOF\n" + "echo line\n" * 50_000 + "EOF\n")),
        "heredoc-pip-12k-fix": ("fix", lambda: _write(
            "heredoc-pip", head + "RUN <<EOF\n" + "pip install torch\n" * 12_000 + "EOF\n")),
    }


def _run(command: str, dockerfile: Path, timeout: float) -> tuple[float, float, int]:
    argv = [sys.executable, "-m", "carpenter.cli", command, str(dockerfile), "--format", "json"]
    if command == "redact":  # the redaction every output goes through, on the whole file
        argv = [sys.executable, "-c", "import sys; from carpenter.core.redact import safe_text; "
                "sys.stdout.write(safe_text(open(sys.argv[1]).read())[-80:])", str(dockerfile)]
    elif command == "scan":
        argv.append("--no-cache")
    else:
        argv += ["-j", "1"]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "CARPENTER_NO_CACHE": "1"})
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="run only these families")
    parser.add_argument("--budget-s", type=float, default=5.0)
    parser.add_argument("--budget-mb", type=float, default=500.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    print(f"{'family':24} {'cmd':4} {'seconds':>8} {'peak MB':>8} {'exit':>5}  verdict")
    over = 0
    for name, (command, make) in _cases().items():
        if args.only and name not in args.only:
            continue
        seconds, peak, code = _run(command, make(), args.timeout)
        ok = seconds <= args.budget_s and peak <= args.budget_mb and code in (0, 1, 2)
        over += not ok
        print(f"{name:24} {command:4} {seconds:8.2f} {peak:8.0f} {code:5}  "
              f"{'ok' if ok else 'OVER BUDGET'}", flush=True)
    print(f"{over} famil{'y' if over == 1 else 'ies'} over the budget of {args.budget_s:g} s / "
          f"{args.budget_mb:g} MB (load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
