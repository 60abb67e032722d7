"""Benchmark: a cold `carpenter scan` of ONE submission against hadolint + detect-secrets.

Issue 14: per submission, the tools Carpenter replaces are hadolint on the Dockerfile plus
detect-secrets on the build context. This generates ~30 realistic LLM submissions (Dockerfile
and ~20 context files: server/training code full of `token` look-alikes, requirements, configs,
a notebook, scripts; a few carry a real-looking leak) and runs one process per submission per
tool, as a CI job would. Prints medians and the ratio; no assertions (the machine is shared).

    .venv/bin/python bench/cold_scan_bench.py                 # 30 submissions, 3 rounds
    .venv/bin/python bench/cold_scan_bench.py --count 10 --rounds 1
    .venv/bin/python bench/cold_scan_bench.py --server   # also: scans handed to a server

Carpenter's bytecode is compiled first, as `pip install` does: under PYTHONDONTWRITEBYTECODE=1
a checkout otherwise recompiles every module on every run (measured with valgrind: 1.31 G
instructions per cold scan instead of 0.75 G), which is not what users run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
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


def timed(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env or {**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    return time.perf_counter() - start


PIP_SCRIPT = ("#!{python}\nimport re\nimport sys\nfrom carpenter.launch import main\n"
              "if __name__ == '__main__':\n    sys.exit(main())\n")


@contextlib.contextmanager
def served_scan(plain: bool = False) -> Iterator[Callable[[Path], float]]:
    """Time one `carpenter scan` client process handed to a running `carpenter server`
    (started here, in a private runtime dir, stopped at the end), through a console script as
    pip writes it: the venv's own (when it goes through carpenter.launch), or with `plain`, that
    of an interpreter without this checkout's editable-install hook (its .pth imports pathlib
    and re at every start-up, ~10 ms that a pip, pipx or pre-commit install does not pay)."""
    script = BIN / "carpenter"
    with tempfile.TemporaryDirectory(prefix="carp-bench-", dir="/tmp") as tmp:
        python = sys.executable
        if plain:  # a venv whose only .pth line names the dependencies' folder as a plain path
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", f"{tmp}/venv"],
                           check=True)
            python = f"{tmp}/venv/bin/python"
            site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                   "['purelib'])"], capture_output=True, text=True, check=True)
            deps = sysconfig.get_paths()["purelib"]
            Path(site.stdout.strip(), "deps.pth").write_text(deps + "\n")
        if plain or "carpenter.launch" not in script.read_text(errors="replace"):
            script = Path(tmp, "carpenter")
            script.write_text(PIP_SCRIPT.format(python=python))
            script.chmod(0o755)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CARPENTER_RUNTIME_DIR": f"{tmp}/run"}
        env.pop("CARPENTER_NO_SERVER", None)
        subprocess.run([str(script), "server", "start"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        try:
            yield lambda sub: timed([str(script), "scan", "--no-cache", str(sub)], env=env)
        finally:
            subprocess.run([str(script), "server", "stop"], env=env, check=False,
                           stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server", action="store_true",
                        help="also time scans handed to a `carpenter server` (started here)")
    args = parser.parse_args()
    import compileall

    compileall.compile_dir(str(ROOT / "carpenter"), quiet=2)
    rng = random.Random(14)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        subs = [make_submission(Path(tmp), i, rng) for i in range(args.count)]
        carpenter: list[float] = []
        pair: list[float] = []
        serve = stack.enter_context(served_scan()) if args.server else None
        serve_plain = stack.enter_context(served_scan(plain=True)) if args.server else None
        served: list[float] = []  # in the same loop as the others: under the same load
        served_plain: list[float] = []
        for _ in range(args.rounds):
            for sub in subs:
                carpenter.append(timed([sys.executable, "-m", "carpenter.cli", "scan",
                                        "--no-cache", str(sub)]))
                pair.append(timed([str(BIN / "hadolint"), "--no-fail", "Dockerfile"], sub)
                            + timed([str(BIN / "detect-secrets"), "scan", "--all-files", "."],
                                    sub))
                if serve and serve_plain:
                    served.append(serve(sub))
                    served_plain.append(serve_plain(sub))
    med_c, med_p = statistics.median(carpenter), statistics.median(pair)
    print(f"submissions: {args.count} x {args.rounds} rounds, one process each")
    print(f"carpenter scan --no-cache   median {med_c:.3f} s  (min {min(carpenter):.3f})")
    print(f"hadolint + detect-secrets   median {med_p:.3f} s  (min {min(pair):.3f})")
    print(f"ratio (pair / carpenter)    {med_p / med_c:.1f}x")
    if served:
        load = os.getloadavg()
        print(f"load average (1, 5, 15 min) {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
              f"on {os.cpu_count()} CPUs")
        for name, times in (("this venv", served), ("plain install", served_plain)):
            med_s = statistics.median(times)
            print(f"served, {name:19s} median {med_s:.3f} s  (min {min(times):.3f})  "
                  f"ratio (pair / served) {med_p / med_s:.1f}x")


if __name__ == "__main__":
    main()
