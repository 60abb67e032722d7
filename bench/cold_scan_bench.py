"""Benchmark: a cold `carpenter scan` of ONE submission against hadolint + detect-secrets.

Issue 14: per submission, the tools Carpenter replaces are hadolint on the Dockerfile plus
detect-secrets on the build context. This generates ~30 realistic LLM submissions (Dockerfile
and ~20 context files: server/training code full of `token` look-alikes, requirements, configs,
a notebook, scripts; a few carry a real-looking leak) and runs one process per submission per
tool, as a CI job would. Prints medians and the ratio; no assertions (the machine is shared).

    .venv/bin/python bench/cold_scan_bench.py                 # 30 submissions, 3 rounds
    .venv/bin/python bench/cold_scan_bench.py --count 10 --rounds 1
    .venv/bin/python bench/cold_scan_bench.py --install checkout  # PYTHONPATH=<checkout>
    .venv/bin/python bench/cold_scan_bench.py --server   # also: scans handed to a server

By default Carpenter runs as users run it: a wheel is built from the checkout and installed
(bytecode compiled) into bench/out/wheel-venv, whose dependencies are those of the running
venv, linked through a .pth line (no download; the .pth files of that folder, such as the
editable install's import finder, are not processed, so they cost nothing here). With
`--install checkout` the checkout is put on PYTHONPATH instead, its bytecode compiled first
(under PYTHONDONTWRITEBYTECODE=1 a checkout otherwise recompiles every module on every run).

Each scan runs through the `carpenter` console script (what users type), with a runtime dir
that does not exist (so no server hand-off) and a private cache folder (compiled regexes and
record code are kept there between runs, as in a user's ~/.cache/carpenter; `--no-cache`
skips only the scan-result cache).

Besides the medians it prints, for the median submission, how a cold scan splits into
interpreter start (`python -c pass`), imports (what a scan imports, without scanning) and work,
and the same scan with the compiled caches off (CARPENTER_NO_CACHE=1), empty (a first run after
install) and filled.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import string
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

BASES = ["pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime", "nvidia/cuda:12.1.1-devel-ubuntu22.04",
         "python:3.10-slim", "huggingface/transformers-pytorch-gpu:4.35.2"]
MODELS = ["mistralai/Mistral-7B-v0.1", "meta-llama/Llama-2-7b-hf", "Qwen/Qwen-7B-Chat",
          "EleutherAI/pythia-1b", "tiiuae/falcon-7b"]

SERVER = '''import argparse
import os

import torch
from fastapi import FastAPI
from transformers import AutoModelForCausalLM, AutoTokenizer

app = FastAPI()
MODEL_DIR = os.environ.get("MODEL_DIR", "/models/{n}")


class Engine:
    def __init__(self, config, tokenizer, args):
        self.token_dim = config.token_dim
        self.pad_token = tokenizer.eos_token
        self.hf_token = args.hf_access_token
        self.special = {{"eos_token": tokenizer.convert_ids_to_tokens(tokenizer.eos_token_id)}}

    def generate(self, input_data):
        generate_token_num = input_data.max_new_tokens
        return generate_token_num


@app.post("/process")
def process(req: dict) -> dict:
    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, torch_dtype=torch.bfloat16)
    ids = tokenizer(req["prompt"], return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=req.get("max_new_tokens", {n}))
    return {{"text": tokenizer.decode(out[0])}}
'''
MODULE = '''"""Helper {i}."""
import math

import torch


def layer_{i}(x: torch.Tensor, scale: float = {f}) -> torch.Tensor:
    return torch.nn.functional.gelu(x) * math.sqrt(scale)


def chunks_{i}(items: list, size: int = {n}) -> list:
    return [items[k:k + size] for k in range(0, len(items), size)]
'''
LEAK = "login(token='hf_{}')\n"


def _token(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters) for _ in range(34))


def make_submission(root: Path, index: int, rng: random.Random) -> Path:
    sub = root / f"sub{index:03d}"
    (sub / "src").mkdir(parents=True)
    model = rng.choice(MODELS)
    (sub / "Dockerfile").write_text(
        f"FROM {rng.choice(BASES)}\nWORKDIR /app\nRUN apt-get update && apt-get install -y git "
        "curl && rm -rf /var/lib/apt/lists/*\nCOPY requirements.txt .\n"
        "RUN pip install --no-cache-dir -r requirements.txt\n"
        f"RUN pip install flash-attn=={rng.choice(['2.3.3', '2.5.6'])} --no-build-isolation\n"
        f"RUN huggingface-cli download {model} --local-dir /models/m\n"
        "COPY . .\nEXPOSE 80\nCMD [\"uvicorn\", \"src.server:app\", \"--host\", \"0.0.0.0\", "
        "\"--port\", \"80\"]\n")
    (sub / "requirements.txt").write_text(
        "torch==2.1.0\ntransformers==4.35.2\naccelerate==0.24.1\nfastapi==0.104.1\n"
        "uvicorn==0.24.0\npeft==0.6.2\nsentencepiece\n")
    (sub / "src" / "server.py").write_text(SERVER.format(n=rng.randint(64, 1024)))
    for i in range(rng.randint(12, 16)):
        (sub / "src" / f"mod_{i}.py").write_text(
            MODULE.format(i=i, f=rng.random(), n=rng.randint(2, 64)))
    (sub / "config.yaml").write_text(f"model: {model}\nlr: 2.0e-5\nepochs: 3\nlora_r: 16\n")
    (sub / "README.md").write_text(f"# Submission {index}\n\nFine-tune of {model} with LoRA.\n")
    (sub / "run.sh").write_text("#!/bin/sh\nset -e\npython -m src.train --config config.yaml\n")
    notebook = {"cells": [{"cell_type": "code", "source": ["import torch\n", "print(1)\n"],
                           "metadata": {}, "outputs": [], "execution_count": 1}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (sub / "explore.ipynb").write_text(json.dumps(notebook, indent=1))
    if index % 5 == 0:  # one in five leaks a token
        (sub / "src" / "login.py").write_text("from huggingface_hub import login\n"
                                             + LEAK.format(_token(rng)))
    return sub


# What a scan imports, without scanning: the import share of the per-phase split.
# What a scan imports, the way the console script imports it (import-time patterns preloaded,
# the collector off during the imports, what they built frozen).
SCAN_IMPORTS = ("from carpenter.launch import _import_cli; _import_cli(); "
                "import carpenter.cli, carpenter.scan.cli, carpenter.report.text, "
                "carpenter.scan.context, carpenter.model.dockerfile; "
                "import carpenter.scan.engine as e; e.all_rules()")
ENV = {**os.environ}


def timed(argv: list[str], cwd: Path | None = None, **env: str) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**ENV, **env}, check=False)
    return time.perf_counter() - start


def wheel_python() -> str:
    """A venv under bench/out with Carpenter installed from a freshly built wheel."""
    out = ROOT / "bench" / "out"
    wheels = out / "wheel"
    shutil.rmtree(wheels, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(ROOT)], check=True)
    venv = out / "wheel-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv",
                        "--without-pip", str(venv)], check=True)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; "
                                "print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # The running venv's packages, after the wheel's own folder on sys.path.
    deps = sysconfig.get_paths()["purelib"]
    (site / "zz_bench_dependencies.pth").write_text(deps + "\n")
    wheel = next(wheels.glob("carpenter-*.whl"))
    subprocess.run([str(BIN / "uv"), "pip", "install", "--quiet", "--python", str(python),
                    "--no-deps", "--reinstall", "--compile-bytecode", str(wheel)], check=True)
    return str(python)


def checkout_python() -> str:
    import compileall

    compileall.compile_dir(str(ROOT / "carpenter"), quiet=2)
    ENV["PYTHONPATH"] = str(ROOT)
    return sys.executable


PIP_SCRIPT = ("#!{python}\nimport sys\nfrom carpenter.launch import main\n"
              "if __name__ == '__main__':\n    sys.exit(main())\n")


def console_script(python: str, folder: Path) -> Path:
    """The `carpenter` console script as pip writes it for `python` (carpenter.launch:main):
    the wheel venv's own, else one written into `folder`. It is what users type."""
    script = Path(python).parent / "carpenter"
    if script.exists() and "carpenter.launch" in script.read_text(errors="replace"):
        return script
    script = folder / "carpenter"
    script.write_text(PIP_SCRIPT.format(python=python))
    script.chmod(0o755)
    return script


@contextlib.contextmanager
def served_scan(script: Path, runtime: Path) -> Iterator[Callable[[Path], float]]:
    """Time one `carpenter scan` client process handed to a running `carpenter server`
    (started here in the private runtime dir `runtime`, stopped at the end)."""
    env = {**ENV, "CARPENTER_RUNTIME_DIR": str(runtime)}
    env.pop("CARPENTER_NO_SERVER", None)
    subprocess.run([str(script), "server", "start"], env=env, check=True,
                   stdout=subprocess.DEVNULL)

    def one(sub: Path) -> float:
        start = time.perf_counter()
        subprocess.run([str(script), "scan", "--no-cache", str(sub)], env=env, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start

    try:
        yield one
    finally:
        subprocess.run([str(script), "server", "stop"], env=env, check=False,
                       stdout=subprocess.DEVNULL)


def compiled_caches(script: Path, sub: Path, cache: Path, rounds: int) -> str:
    """One cold scan of `sub` with Carpenter's compiled caches (regex programs, record
    __init__ code) off (CARPENTER_NO_CACHE=1), empty (a first run after install: each run
    gets a new, empty cache folder) and filled (every later run)."""
    argv = [str(script), "scan", "--no-cache", "."]
    off = median_of(argv, sub, rounds, CARPENTER_NO_CACHE="1")
    empty = statistics.median(
        timed(argv, sub, CARPENTER_CACHE_DIR=str(cache / f"empty-{i}")) for i in range(rounds))
    filled = median_of(argv, sub, rounds)
    return f"compiled caches: off {off:.3f} s, empty {empty:.3f} s, filled {filled:.3f} s"


def median_of(argv: list[str], cwd: Path, rounds: int, **env: str) -> float:
    return statistics.median(timed(argv, cwd, **env) for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--install", choices=("wheel", "checkout"), default="wheel",
                        help="wheel: an installed wheel (what users run); checkout: PYTHONPATH")
    parser.add_argument("--server", action="store_true",
                        help="also time scans handed to a `carpenter server` (started here)")
    args = parser.parse_args()
    python = wheel_python() if args.install == "wheel" else checkout_python()
    rng = random.Random(14)
    with tempfile.TemporaryDirectory(prefix="carp-bench-", dir="/tmp") as tmp, \
            contextlib.ExitStack() as stack:
        folder = Path(tmp)
        # Private caches (the user's stay untouched) and a runtime dir that does not exist:
        # the cold runs go through the console script, which then starts no server hand-off.
        ENV["CARPENTER_CACHE_DIR"] = str(folder / "cache")
        ENV["CARPENTER_RUNTIME_DIR"] = str(folder / "no-server")
        script = console_script(python, folder)
        subs = [make_submission(folder, i, rng) for i in range(args.count)]
        serve = (stack.enter_context(served_scan(script, folder / "run")) if args.server
                 else None)
        served: list[float] = []  # in the same loop as the others: under the same load
        carpenter: list[float] = []
        pair: list[float] = []
        per_sub: dict[Path, list[float]] = {sub: [] for sub in subs}
        for _ in range(args.rounds):
            for sub in subs:
                took = timed([str(script), "scan", "--no-cache", str(sub)])
                carpenter.append(took)
                per_sub[sub].append(took)
                pair.append(timed([str(BIN / "hadolint"), "--no-fail", "Dockerfile"], sub)
                            + timed([str(BIN / "detect-secrets"), "scan", "--all-files", "."],
                                    sub))
                if serve is not None:
                    served.append(serve(sub))
        ranked = sorted(subs, key=lambda s: statistics.median(per_sub[s]))
        median_sub = ranked[len(ranked) // 2]
        rounds = max(5, args.rounds)
        start = median_of([python, "-c", "pass"], median_sub, rounds)
        imports = median_of([python, "-c", SCAN_IMPORTS], median_sub, rounds)
        full = median_of([str(script), "scan", "--no-cache", "."], median_sub, rounds)
        caches = compiled_caches(script, median_sub, folder / "cache", rounds)
        # Organizers and pre-commit hand one process many submissions: the per-submission
        # share of one `carpenter scan` over all of them.
        together = median_of([str(script), "scan", "--no-cache", *map(str, subs)], folder,
                             args.rounds) / len(subs)
    med_c, med_p = statistics.median(carpenter), statistics.median(pair)
    print(f"install: {args.install} ({python}); load: {os.getloadavg()[0]:.2f}")
    print(f"submissions: {args.count} x {args.rounds} rounds, one process each")
    print(f"carpenter scan --no-cache   median {med_c:.3f} s  (min {min(carpenter):.3f})")
    print(f"hadolint + detect-secrets   median {med_p:.3f} s  (min {min(pair):.3f})")
    print(f"ratio (pair / carpenter)    {med_p / med_c:.1f}x")
    print(f"median submission ({median_sub.name}, medians of {rounds}): interpreter start "
          f"{start:.3f} s, imports {imports - start:.3f} s, work {full - imports:.3f} s "
          f"(total {full:.3f} s)")
    print(caches)
    print(f"one process, all {args.count} submissions: {together:.3f} s per submission  "
          f"(ratio pair / that {med_p / together:.1f}x)")
    if served:
        med_s = statistics.median(served)
        print(f"served (carpenter server)   median {med_s:.3f} s  (min {min(served):.3f})  "
              f"ratio (pair / served) {med_p / med_s:.1f}x")


if __name__ == "__main__":
    main()
