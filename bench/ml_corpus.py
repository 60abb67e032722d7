"""Generate a corpus of varied, realistic ML-submission Dockerfiles (with their build contexts).

Deterministic for a seed. Each submission is a folder with a Dockerfile and whatever context it
uses: requirements/constraints files, environment.yml, pyproject.toml, training/serving scripts.
The mix follows what competition entries look like: CUDA/PyTorch bases (often ARG-parametrized),
apt/pip/uv/conda installs with a mix of exact pins, ranges and bare names, flash-attn builds,
git clones, heredocs, multi-stage builds and an inference server.

    python bench/ml_corpus.py bench/corpus --count 1000 --seed 7
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

CUDA = ["11.8.0", "12.1.1", "12.2.2", "12.4.1"]
UBUNTU = ["20.04", "22.04"]
TORCH = {"11.8.0": ("2.0.1", "cu118"), "12.1.1": ("2.1.2", "cu121"), "12.2.2": ("2.2.1", "cu121"),
         "12.4.1": ("2.4.0", "cu124")}
PY_PACKAGES = {
    "transformers": ["4.36.2", "4.38.2", "4.40.1", "4.44.2"],
    "accelerate": ["0.25.0", "0.27.2", "0.30.1"],
    "peft": ["0.7.1", "0.10.0", "0.12.0"],
    "datasets": ["2.16.1", "2.18.0", "2.20.0"],
    "bitsandbytes": ["0.41.3", "0.43.1"],
    "trl": ["0.7.10", "0.8.6", "0.9.6"],
    "sentencepiece": ["0.1.99", "0.2.0"],
    "einops": ["0.7.0", "0.8.0"],
    "safetensors": ["0.4.2", "0.4.3"],
    "tokenizers": ["0.15.2", "0.19.1"],
    "scipy": ["1.11.4", "1.12.0"],
    "numpy": ["1.24.4", "1.26.4"],
    "wandb": ["0.16.3", "0.17.0"],
    "fastapi": ["0.109.2", "0.110.0"],
    "uvicorn": ["0.27.1", "0.29.0"],
    "vllm": ["0.4.0", "0.4.2", "0.5.3"],
    "xformers": ["0.0.23", "0.0.25"],
    "deepspeed": ["0.13.1", "0.14.0"],
    "protobuf": ["3.20.3", "4.25.3"],
    "huggingface-hub": ["0.20.3", "0.23.0"],
    "evaluate": ["0.4.1"],
    "pydantic": ["2.6.1", "2.7.1"],
}
APT = {
    "git": "1:2.34.1-1ubuntu1.10", "curl": "7.81.0-1ubuntu1.15", "wget": "1.21.2-2ubuntu1",
    "build-essential": "12.9ubuntu3", "ninja-build": "1.10.1-1", "libgl1": "1.4.0-1",
    "libglib2.0-0": "2.72.4-0ubuntu2.2", "python3-pip": "22.0.2+dfsg-1ubuntu0.4",
    "python3-dev": "3.10.6-1~22.04", "ca-certificates": "20230311ubuntu0.22.04.1",
    "git-lfs": "3.0.2-1ubuntu0.2", "ffmpeg": "7:4.4.2-0ubuntu0.22.04.1", "tmux": "3.2a-4ubuntu0.2",
}
GIT_REPOS = ["https://github.com/huggingface/peft", "https://github.com/Dao-AILab/flash-attention",
             "https://github.com/EleutherAI/lm-evaluation-harness",
             "https://github.com/hiyouga/LLaMA-Factory", "https://github.com/OpenAccess-AI-Collective/axolotl"]
MODELS = ["meta-llama/Llama-2-7b-hf", "mistralai/Mistral-7B-v0.1", "Qwen/Qwen1.5-7B",
          "microsoft/phi-2", "EleutherAI/pythia-1b"]


class Gen:
    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def spec(self, name: str, *, quoted_ok: bool = True) -> str:
        """A requirement in one of the forms seen in the wild (mostly exact pins)."""
        version = self.r.choice(PY_PACKAGES[name])
        form = self.r.choices(["pin", "bare", "range", "compat", "extra", "upper"],
                              [0.55, 0.15, 0.12, 0.06, 0.06, 0.06])[0]
        text = {
            "pin": f"{name}=={version}", "bare": name, "range": f"{name}>={version}",
            "compat": f"{name}~={version}", "extra": f"{name}[torch]=={version}",
            "upper": f"{name}<{int(version.split('.')[0]) + 1}",
        }[form]
        if quoted_ok and any(c in text for c in "<>[]"):
            text = f'"{text}"' if self.chance(0.85) else text  # sometimes the shell bug
        return text

    def packages(self, low: int, high: int) -> list[str]:
        return self.r.sample(sorted(PY_PACKAGES), self.r.randint(low, high))

    # -- pieces of a Dockerfile -----------------------------------------------------------------

    def base(self) -> tuple[list[str], str, str]:
        """FROM lines (with ARGs), the CUDA version, the torch wheel index suffix."""
        cuda = self.r.choice(CUDA)
        ubuntu = self.r.choice(UBUNTU)
        torch, cu = TORCH[cuda]
        kind = self.r.choices(["cuda", "pytorch", "python", "arg"], [0.35, 0.25, 0.15, 0.25])[0]
        digest = "@sha256:" + "".join(self.r.choice("0123456789abcdef") for _ in range(64))
        if kind == "cuda":
            tag = f"{cuda}-cudnn8-devel-ubuntu{ubuntu}" if self.chance(0.9) else "latest"
            image = f"nvidia/cuda:{tag}" + (digest if self.chance(0.15) else "")
            return [f"FROM {image} AS base"], cuda, cu
        if kind == "pytorch":
            image = f"pytorch/pytorch:{torch}-cuda{cuda[:4].rstrip('.')}-cudnn8-runtime"
            return [f"FROM {image}"], cuda, cu
        if kind == "python":
            return [f"FROM python:3.{self.r.choice([9, 10, 11])}-slim"], cuda, cu
        lines = [f"ARG CUDA_VERSION={cuda}", f"ARG UBUNTU_VERSION={ubuntu}"]
        lines.append(
            "ARG BASE_IMAGE=nvidia/cuda:${CUDA_VERSION}-cudnn8-devel-ubuntu${UBUNTU_VERSION}"
        )
        lines.append("FROM ${BASE_IMAGE} AS base")
        return lines, cuda, cu

    def env(self) -> list[str]:
        lines = ["ENV DEBIAN_FRONTEND=noninteractive \\", "    PYTHONUNBUFFERED=1 \\",
                 "    PIP_NO_CACHE_DIR=1"]
        if self.chance(0.4):
            lines.append("ENV HF_HOME=/models/hf TRANSFORMERS_CACHE=/models/hf")
        if self.chance(0.05):
            lines.append("ENV HF_TOKEN=hf_" + "".join(self.r.choice("abcdefghijkLMNOPQ0123456789")
                                                     for _ in range(34)))
        if self.chance(0.1):
            lines.append("ARG WANDB_API_KEY")
        return lines

    def apt(self) -> list[str]:
        names = self.r.sample(sorted(APT), self.r.randint(2, 7))
        words = [f"{n}={APT[n]}" if self.chance(0.3) else n for n in names]
        lines = ["RUN apt-get update && apt-get install -y --no-install-recommends \\"]
        lines += [f"        {w} \\" for w in words[:-1]] + [f"        {words[-1]} \\"]
        lines.append("    && rm -rf /var/lib/apt/lists/*")
        if self.chance(0.15):
            lines.insert(0, "RUN apt-get update && apt-get upgrade -y")
        if self.chance(0.08):
            lines.insert(0, "RUN add-apt-repository ppa:deadsnakes/ppa")
        if self.chance(0.25):
            lines[0] = "RUN --mount=type=cache,target=/var/cache/apt " + lines[0][4:]
        return lines

    def torch(self, cu: str) -> list[str]:
        version = TORCH[self.r.choice(CUDA)][0]
        pin = f"torch=={version}" if self.chance(0.7) else "torch"
        index = f"https://download.pytorch.org/whl/{cu}"
        flag = "--index-url" if self.chance(0.5) else "--extra-index-url"
        tool = self.r.choice(["pip", "pip3", "python3 -m pip", "uv pip"])
        extra = " --system" if tool == "uv pip" else ""
        vision = " torchvision" if self.chance(0.4) else ""
        return [f"RUN {tool} install{extra} {pin}{vision} {flag} {index}"]

    def pip(self) -> list[str]:
        tool = self.r.choice(["pip", "pip3", "python -m pip", "python3.10 -m pip"])
        specs = [self.spec(n) for n in self.packages(2, 8)]
        if self.chance(0.1):
            specs.insert(0, "-U")
        if len(specs) > 3 and self.chance(0.5):
            lines = [f"RUN {tool} install --no-cache-dir \\"]
            lines += [f"    {s} \\" for s in specs[:-1]] + [f"    {specs[-1]}"]
            return lines
        return [f"RUN {tool} install {' '.join(specs)}"]

    def requirements(self, files: dict[str, str]) -> list[str]:
        reqs = [self.spec(n, quoted_ok=False) for n in self.packages(4, 14)]
        if self.chance(0.2):
            reqs.append("# evaluation")
            ref = "v0.4.2" if self.chance(0.5) else "a" * 40
            reqs.append(f"git+https://github.com/EleutherAI/lm-evaluation-harness@{ref}")
        if self.chance(0.15):
            reqs.insert(0, "--extra-index-url https://download.pytorch.org/whl/cu121")
        files["requirements.txt"] = "\n".join(reqs) + "\n"
        lines = ["COPY requirements.txt /tmp/requirements.txt"]
        if self.chance(0.25):
            pins = [f"{n}=={self.r.choice(PY_PACKAGES[n])}" for n in self.packages(3, 8)]
            files["constraints.txt"] = "\n".join(pins) + "\n"
            lines.append("COPY constraints.txt /tmp/constraints.txt")
            lines.append("RUN pip install -r /tmp/requirements.txt -c /tmp/constraints.txt")
        else:
            lines.append("RUN pip install -r /tmp/requirements.txt" +
                         (" einops" if self.chance(0.2) else ""))
        return lines

    def conda(self, files: dict[str, str]) -> list[str]:
        if self.chance(0.5):
            deps = "\n".join(f"  - {n}={self.r.choice(PY_PACKAGES[n])}" if self.chance(0.6)
                             else f"  - {n}" for n in self.packages(3, 7) if "-" not in n)
            files["environment.yml"] = (f"name: sub\nchannels:\n  - conda-forge\ndependencies:\n"
                                        f"  - python=3.10\n{deps}\n  - pip\n")
            return ["COPY environment.yml /tmp/environment.yml",
                    "RUN conda env create -f /tmp/environment.yml && conda clean -afy"]
        tool = self.r.choice(["conda", "mamba", "micromamba"])
        specs = [f"{n}={self.r.choice(PY_PACKAGES[n])}" if self.chance(0.5) else n
                 for n in self.packages(2, 4) if "-" not in n] or ["numpy"]
        return [f"RUN {tool} install -y -c conda-forge {' '.join(specs)}"]

    def flash_attn(self) -> list[str]:
        if self.chance(0.3):
            return ["RUN pip install flash-attn==2.5.8 --no-build-isolation"]
        if self.chance(0.5):
            return ["ENV MAX_JOBS=4 TORCH_CUDA_ARCH_LIST=\"8.0;8.6;9.0\"",
                    "RUN pip install ninja packaging && "
                    "pip install flash-attn --no-build-isolation"]
        return ["RUN git clone https://github.com/Dao-AILab/flash-attention /opt/fa && \\",
                "    cd /opt/fa && python setup.py install"]

    def git(self) -> list[str]:
        repo = self.r.choice(GIT_REPOS)
        name = repo.rsplit("/", 1)[-1]
        ref = self.r.choice(["", "v0.7.1", "main", "".join(self.r.choice("0123456789abcdef")
                                                             for _ in range(40))])
        lines = [f"RUN git clone --depth 1 {repo} /opt/{name} \\"]
        if ref:
            lines.append(f"    && cd /opt/{name} && git checkout {ref} \\")
        lines.append(f"    && pip install -e /opt/{name}")
        return lines

    def heredoc(self) -> list[str]:
        if self.chance(0.5):
            return ["RUN <<EOF", "set -eux", f"pip install {self.spec('peft')} {self.spec('trl')}",
                    "python -c 'import torch; print(torch.__version__)'", "EOF"]
        model = self.r.choice(MODELS)
        revision = ", revision=\"main\"" if self.chance(0.3) else ""
        return ["RUN python3 <<EOF", "from huggingface_hub import snapshot_download",
                f"snapshot_download(\"{model}\", local_dir=\"/models/base\"{revision})", "EOF"]

    def download(self) -> list[str]:
        model = self.r.choice(MODELS)
        if self.chance(0.5):
            rev = f" --revision {'a' * 40}" if self.chance(0.4) else ""
            return [f"RUN huggingface-cli download {model} --local-dir /models/base{rev}"]
        return [f"ADD https://huggingface.co/{model}/resolve/main/config.json /models/base/"]

    def app(self, files: dict[str, str]) -> list[str]:
        files["train.py"] = "import torch\nprint('train', torch.__version__)\n"
        files["serve.py"] = "from fastapi import FastAPI\napp = FastAPI()\n"
        lines = ["WORKDIR /app", "COPY train.py serve.py /app/"]
        if self.chance(0.3):
            files["pyproject.toml"] = (
                "[project]\nname = \"submission\"\nversion = \"0.1.0\"\ndependencies = [\n"
                + "".join(f"  \"{self.spec(n, quoted_ok=False)}\",\n" for n in self.packages(2, 5))
                + "]\n")
            lines += ["COPY pyproject.toml /app/", "RUN pip install ."]
        if self.chance(0.2):
            lines += ["COPY --chmod=755 <<EOF /app/entrypoint.sh", "#!/bin/sh",
                      "exec python serve.py", "EOF"]
        return lines

    def server(self) -> list[str]:
        port = self.r.choice([8000, 8000, 8080, 5000])
        kind = self.r.choice(["vllm", "uvicorn", "python"])
        cmd = {
            "vllm": '["python3", "-m", "vllm.entrypoints.openai.api_server", '
                    f'"--model", "/models/base", "--port", "{port}"]',
            "uvicorn": f'["uvicorn", "serve:app", "--host", "0.0.0.0", "--port", "{port}"]',
            "python": "python3 serve.py" if self.chance(0.5) else '["python3", "serve.py"]',
        }[kind]
        return [f"EXPOSE {port}", f"CMD {cmd}"]

    # -- a whole submission ----------------------------------------------------------------------

    def submission(self) -> dict[str, str]:
        files: dict[str, str] = {}
        head, _cuda, cu = self.base()
        body: list[list[str]] = [self.env(), self.apt(), self.torch(cu)]
        optional = [(0.7, lambda: self.requirements(files)), (0.6, self.pip),
                    (0.2, lambda: self.conda(files)), (0.35, self.flash_attn), (0.35, self.git),
                    (0.3, self.heredoc), (0.3, self.download)]
        picked = [make() for p, make in optional if self.chance(p)]
        self.r.shuffle(picked)
        body += picked
        body.append(self.app(files))
        lines = list(head)
        if self.chance(0.1):
            lines.insert(0, "# syntax=docker/dockerfile:1.6")
        for block in body:
            if self.chance(0.3):
                lines.append(f"# {self.r.choice(['deps', 'install', 'setup', 'build'])}")
            lines += block
        if self.chance(0.35):  # multi-stage: a slim runtime stage
            lines += ["", "FROM base AS runtime", "COPY --from=base /app /app", "WORKDIR /app"]
        if self.chance(0.05):
            lines.append("RUN pip install torch>=2.0.1")  # the unquoted-specifier bug
        lines += self.server()
        files["Dockerfile"] = "\n".join(lines) + "\n"
        return files


def generate(out: Path, count: int, seed: int) -> list[Path]:
    if out.exists():
        shutil.rmtree(out)
    rng = random.Random(seed)
    gen = Gen(rng)
    dockerfiles = []
    for index in range(count):
        folder = out / f"sub{index:05d}"
        folder.mkdir(parents=True)
        for name, text in gen.submission().items():
            (folder / name).write_text(text)
        dockerfiles.append(folder / "Dockerfile")
    return dockerfiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    files = generate(args.out, args.count, args.seed)
    print(f"{len(files)} submissions in {args.out}")


if __name__ == "__main__":
    main()
