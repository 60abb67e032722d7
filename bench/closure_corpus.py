"""A corpus of 2023-shaped LLM competition submissions for the closure bench (issue 11).

Written for the bench, not copied from any repository: each layout follows what entries of
late 2023 looked like, with the dependency shapes that broke them years later:

- ranges that a snapshot's single version may not satisfy (`fastapi>=0.68.0,<0.69.0`);
- transitive drift: a pinned package whose own dependencies float (`llama-recipes==0.0.1`
  pulls transformers/peft/numpy at whatever version is newest);
- VCS installs: `git+https://github.com/<org>/<project>` of projects that were on PyPI at the
  date, at a branch (`@main`) or a tag (`@v4.34.1`), and of projects that never were;
- starter-kit layouts: the llama-recipes + FastAPI (HELM-style `/process`, `/tokenize`)
  server, a lit-gpt checkout with its own requirements, vLLM/TGI-style servers;
- `-r`/`-c` files reached through COPY, `pip install .`/`-e .` of pyproject.toml or setup.py
  projects (extras, environment markers), multi-stage builds, `uv pip install`,
  `python -m pip`;
- common ML bases: pytorch/pytorch, nvidia/cuda, python:3.x-slim, huggingface/…,
  ghcr.io/…, nvcr.io/…; and a few conda `environment.yml` ones with a `pip:` section.

Deterministic for a seed: layout i is `LAYOUTS[i % len(LAYOUTS)]`, so any count of at least
len(LAYOUTS) holds every layout; the seed varies bases, versions and details.

    python bench/closure_corpus.py bench/out/closure-corpus --count 48
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path

# Every version below was on PyPI by the snapshot's cut-off (2023-10-25).
PYTORCH_BASES = ["pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime",
                 "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel",
                 "pytorch/pytorch:2.1.0-cuda11.8-cudnn8-runtime",
                 "pytorch/pytorch:2.0.1-cuda11.7-cudnn8-runtime",
                 "pytorch/pytorch:2.0.1-cuda11.7-cudnn8-devel"]
NGC_BASES = ["nvcr.io/nvidia/pytorch:23.10-py3", "nvcr.io/nvidia/pytorch:23.08-py3",
             "nvcr.io/nvidia/pytorch:23.07-py3"]
CUDA_BASES = ["nvidia/cuda:12.1.0-devel-ubuntu22.04", "nvidia/cuda:11.8.0-cudnn8-devel-ubuntu22.04",
              "nvidia/cuda:12.1.1-devel-ubuntu22.04", "nvidia/cuda:12.2.0-runtime-ubuntu22.04",
              "nvidia/cuda:11.8.0-runtime-ubuntu22.04"]
SLIM_BASES = ["python:3.10-slim", "python:3.11-slim", "python:3.10-slim-bookworm",
              "python:3.9-slim"]
HF_BASES = ["huggingface/transformers-pytorch-gpu:4.29.2",
            "huggingface/transformers-pytorch-gpu:4.33.0"]
GHCR_BASES = ["ghcr.io/huggingface/text-generation-inference:1.1.0",
              "ghcr.io/huggingface/text-generation-inference:1.0.3"]
CONDA_BASES = ["continuumio/miniconda3:23.5.2-0", "mambaorg/micromamba:1.5.1",
               "condaforge/mambaforge:23.3.1-1"]

SERVER = ["fastapi>=0.68.0,<0.69.0", "pydantic>=1.8.0,<2.0.0", "uvicorn>=0.15.0,<0.16.0"]
SERVER_NEW = ["fastapi>=0.100", "uvicorn[standard]>=0.23", "pydantic>=2.0,<3"]
ML_RANGES = ["transformers>=4.33,<4.35", "peft>=0.5.0", "accelerate>=0.21.0",
             "bitsandbytes>=0.40.0", "datasets~=2.14", "sentencepiece", "einops",
             "tokenizers>=0.14,<0.15", "scipy", "safetensors>=0.3.1", "protobuf<4",
             "huggingface-hub>=0.16", "evaluate", "tiktoken", "wandb"]
ML_PINS = {"transformers": ["4.33.2", "4.34.0", "4.34.1"], "peft": ["0.5.0"],
           "accelerate": ["0.22.0", "0.23.0"], "bitsandbytes": ["0.41.0", "0.41.1"],
           "datasets": ["2.14.5", "2.14.6"], "trl": ["0.7.1", "0.7.2"],
           "sentencepiece": ["0.1.99"], "einops": ["0.6.1", "0.7.0"],
           "safetensors": ["0.3.3", "0.4.0"], "scipy": ["1.11.2", "1.11.3"],
           "numpy": ["1.24.4", "1.26.1"], "huggingface-hub": ["0.17.3"]}
DRIFT = ["llama-recipes==0.0.1", "trl==0.7.2", "optimum==1.13.2", "auto-gptq==0.4.2",
         "lm-eval==0.3.0"]
ON_PYPI_VCS = ["git+https://github.com/huggingface/peft",
               "git+https://github.com/huggingface/peft.git@main",
               "git+https://github.com/huggingface/transformers@v4.34.1",
               "git+https://github.com/huggingface/accelerate",
               "git+https://github.com/facebookresearch/llama-recipes",
               "git+https://github.com/huggingface/trl.git@v0.7.2"]
OFF_PYPI_VCS = ["git+https://github.com/team-quokka/eval-utils@v0.3.1",
                "git+https://github.com/lab-fennec/fast-lora.git@main",
                "git+https://github.com/team-quokka/prompt-kit"]

HELM_SERVER = '''import torch
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import AutoModelForCausalLM, AutoTokenizer

app = FastAPI()
tokenizer = AutoTokenizer.from_pretrained("/submission/model")
model = AutoModelForCausalLM.from_pretrained("/submission/model", torch_dtype=torch.float16)


class ProcessRequest(BaseModel):
    prompt: str
    max_new_tokens: int = 64


@app.post("/process")
def process(req: ProcessRequest) -> dict:
    ids = tokenizer(req.prompt, return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=req.max_new_tokens)
    return {"text": tokenizer.decode(out[0][ids.shape[1]:], skip_special_tokens=True)}


@app.post("/tokenize")
def tokenize(req: ProcessRequest) -> dict:
    return {"tokens": tokenizer.encode(req.prompt)}
'''


def unique(reqs: list[str]) -> list[str]:
    """One line per project, the first one written (a file rarely names a package twice)."""
    seen, out = set(), []
    for req in reqs:
        name = re.split(r"[\[<>=~!;@ ]", req, maxsplit=1)[0].lower().replace("_", "-")
        if name not in seen:
            seen.add(name)
            out.append(req)
    return out


class Sub:
    """One submission being written: its files and Dockerfile lines."""

    def __init__(self, r: random.Random) -> None:
        self.r = r
        self.files: dict[str, str] = {}
        self.lines: list[str] = []
        self.kind = "docker"

    def pick(self, items: list[str], low: int, high: int) -> list[str]:
        return self.r.sample(items, self.r.randint(low, min(high, len(items))))

    def pins(self, low: int, high: int) -> list[str]:
        return [f"{n}=={self.r.choice(v)}" for n, v in sorted(ML_PINS.items())
                if n in self.pick(sorted(ML_PINS), low, high)]

    def pip(self) -> str:
        return self.r.choice(["pip", "pip3", "python -m pip", "python3 -m pip"])

    def run(self, *lines: str) -> None:
        self.lines.extend(lines)


# -- layouts ----------------------------------------------------------------------------------

def neurips_starter(s: Sub) -> None:
    """The organizers' starter kit shape: llama-recipes + a FastAPI HELM server."""
    base = s.r.choice(PYTORCH_BASES + NGC_BASES[:1])
    reqs = [*SERVER, "llama-recipes==0.0.1", *s.pick(ML_RANGES, 1, 3)]
    if s.r.random() < 0.5:
        reqs.append(s.r.choice(ON_PYPI_VCS[:2]))
    s.files["requirements.txt"] = "\n".join(unique(reqs)) + "\n"
    s.files["main.py"] = HELM_SERVER
    s.files["api.py"] = "from pydantic import BaseModel\n\nclass Req(BaseModel):\n    prompt: str\n"
    s.run(f"FROM {base}", "WORKDIR /workspace", "# install the dependencies",
          "COPY ./requirements.txt /workspace/requirements.txt",
          f"RUN {s.pip()} install --no-cache-dir --upgrade -r requirements.txt",
          "COPY ./main.py ./api.py /workspace/",
          'CMD ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "80"]')


def lit_gpt(s: Sub) -> None:
    """A lit-gpt checkout in the context with its own requirements, plus a server."""
    base = s.r.choice(NGC_BASES + PYTORCH_BASES[:2])
    commit = "".join(s.r.choice("0123456789abcdef") for _ in range(40))
    s.files["lit-gpt/requirements.txt"] = "\n".join([
        f"lightning @ git+https://github.com/Lightning-AI/lightning@{commit}",
        "jsonargparse[signatures]  # CLI", "tokenizers", "sentencepiece",
        f"bitsandbytes=={s.r.choice(['0.41.0', '0.41.1'])}", "scipy", "datasets",
        "zstandard", "huggingface_hub"]) + "\n"
    s.files["lit-gpt/setup.py"] = ("from setuptools import find_packages, setup\n\n"
                                   "setup(name='lit-gpt', version='0.1.0', "
                                   "packages=find_packages())\n")
    s.files["requirements.txt"] = "\n".join(SERVER) + "\n"
    s.files["main.py"] = HELM_SERVER
    s.run(f"FROM {base}", "WORKDIR /submission",
          "COPY lit-gpt/ /submission/lit-gpt/",
          f"RUN {s.pip()} install --upgrade pip && "
          f"{s.pip()} install -r lit-gpt/requirements.txt",
          "COPY requirements.txt main.py /submission/",
          "RUN pip install -r requirements.txt huggingface_hub sentencepiece",
          "ENV PYTHONPATH=/submission/lit-gpt",
          'CMD ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "8080"]')


def helm_uv(s: Sub) -> None:
    """A slim HELM-style server installed with uv."""
    base = s.r.choice(SLIM_BASES)
    reqs = SERVER_NEW + s.pick(ML_RANGES, 2, 5) + s.pins(1, 3)
    s.files["requirements.txt"] = "\n".join(unique(reqs)) + "\n"
    s.files["server.py"] = HELM_SERVER
    uv = s.r.choice(["pip install uv", "pip install --no-cache-dir uv==0.1.24"])
    s.run(f"FROM {base}", "ENV PYTHONUNBUFFERED=1", f"RUN {uv}", "WORKDIR /app",
          "COPY requirements.txt .", "RUN uv pip install --system --no-cache -r requirements.txt",
          "RUN uv pip install --system torch==2.1.0 --index-url "
          "https://download.pytorch.org/whl/cpu" if s.r.random() < 0.3 else
          "RUN uv pip install --system 'torch>=2.0,<2.2'",
          "COPY server.py .", "EXPOSE 8000",
          'CMD ["uvicorn", "server:app", "--host", "0.0.0.0", "--port", "8000"]')


def hf_image(s: Sub) -> None:
    """A huggingface/transformers image with fine-tuning extras on top."""
    base = s.r.choice(HF_BASES)
    extras = [f'"bitsandbytes>={s.r.choice(["0.39.0", "0.40.2"])}"', '"accelerate>=0.20.3"',
              f"peft=={s.r.choice(ML_PINS['peft'])}", "trl"]
    s.files["finetune.py"] = "from peft import LoraConfig\nprint(LoraConfig())\n"
    s.run(f"FROM {base}", "ARG DEBIAN_FRONTEND=noninteractive",
          f"RUN python3 -m pip install --no-cache-dir {' '.join(extras)}",
          "RUN python3 -m pip install --no-cache-dir 'transformers[sentencepiece]>=4.31,<4.35' "
          "'datasets>=2.14'",
          "WORKDIR /workspace", "COPY finetune.py .", 'CMD ["python3", "finetune.py"]')


def cuda_devel(s: Sub) -> None:
    """An nvidia/cuda base with apt's Python, torch from the PyTorch index, -r and -c files."""
    base = s.r.choice(CUDA_BASES)
    cu = "cu118" if "11.8" in base else "cu121"
    s.files["requirements.txt"] = "\n".join(unique(s.pick(ML_RANGES, 3, 6) + s.pins(1, 2)
                                                   + SERVER)) + "\n"
    s.files["constraints.txt"] = "\n".join(s.pins(2, 4)) + "\n"
    s.files["main.py"] = HELM_SERVER
    s.run(f"FROM {base}", "ENV DEBIAN_FRONTEND=noninteractive",
          "RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip "
          "git && rm -rf /var/lib/apt/lists/*",
          f"RUN python3 -m pip install torch==2.1.0 --index-url https://download.pytorch.org/whl/{cu}",
          "WORKDIR /opt/app", "COPY requirements.txt constraints.txt ./",
          "RUN python3 -m pip install -r requirements.txt -c constraints.txt",
          "COPY main.py .", 'CMD ["python3", "-m", "uvicorn", "main:app", "--port", "8080"]')


def multistage(s: Sub) -> None:
    """A builder stage with a venv, copied into a runtime stage."""
    builder = s.r.choice(SLIM_BASES[:3])
    runtime = s.r.choice([builder, "nvidia/cuda:12.1.0-runtime-ubuntu22.04"])
    s.files["requirements.txt"] = "\n".join(unique(SERVER_NEW + s.pick(ML_RANGES, 2, 4)
                                                   + s.pins(1, 3))) + "\n"
    s.files["app.py"] = HELM_SERVER
    s.run(f"FROM {builder} AS builder",
          "RUN python -m venv /opt/venv", "ENV PATH=/opt/venv/bin:$PATH",
          "COPY requirements.txt /tmp/requirements.txt",
          "RUN pip install --no-cache-dir -r /tmp/requirements.txt",
          f"RUN pip install --no-cache-dir {s.r.choice(DRIFT[:3])}",
          "", f"FROM {runtime} AS runtime",
          "COPY --from=builder /opt/venv /opt/venv", "ENV PATH=/opt/venv/bin:$PATH",
          "WORKDIR /app", "COPY app.py .",
          'CMD ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8000"]')


def pyproject(s: Sub) -> None:
    """`pip install .[serve]` of a pyproject project: extras and environment markers."""
    base = s.r.choice(PYTORCH_BASES + SLIM_BASES[:2])
    deps = unique(['bitsandbytes>=0.41; platform_machine == "x86_64"',
                   'uvloop; sys_platform != "win32"', *s.pick(ML_RANGES, 3, 5),
                   s.r.choice(DRIFT[:2])])
    serve = SERVER_NEW[:2]
    s.files["pyproject.toml"] = (
        "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = "
        "\"setuptools.build_meta\"\n\n[project]\nname = \"team-submission\"\nversion = \"0.2.0\"\n"
        "requires-python = \">=3.9\"\ndependencies = [\n"
        + "".join(f"  {json.dumps(d)},\n" for d in deps)
        + "]\n\n[project.optional-dependencies]\nserve = ["
        + ", ".join(json.dumps(d) for d in serve)
        + "]\n\n[tool.setuptools]\npackages = [\"sub\"]\n")
    s.files["sub/__init__.py"] = ""
    s.files["sub/server.py"] = HELM_SERVER
    s.run(f"FROM {base}", "WORKDIR /src", "COPY pyproject.toml /src/", "COPY sub/ /src/sub/",
          f"RUN {s.pip()} install --no-cache-dir '.[serve]'",
          'CMD ["uvicorn", "sub.server:app", "--host", "0.0.0.0", "--port", "8080"]')


def setup_py(s: Sub) -> None:
    """`pip install -e .` of a setup.py project, with a pinned requirements file first."""
    base = s.r.choice(PYTORCH_BASES + CUDA_BASES[:2])
    deps = unique(s.pick(ML_RANGES, 2, 4) + s.pins(1, 2))
    s.files["setup.py"] = ("from setuptools import find_packages, setup\n\nsetup(\n"
                           "    name='llm_submission',\n    version='0.1',\n"
                           "    packages=find_packages(),\n    install_requires=[\n"
                           + "".join(f"        {d!r},\n" for d in deps) + "    ],\n)\n")
    s.files["llm_submission/__init__.py"] = ""
    s.files["requirements.txt"] = "\n".join([*SERVER, s.r.choice(DRIFT)]) + "\n"
    s.files["main.py"] = HELM_SERVER
    s.run(f"FROM {base}", "WORKDIR /code", "COPY requirements.txt .",
          "RUN pip install -r requirements.txt", "COPY . .", "RUN pip install -e .",
          'CMD ["python", "-m", "uvicorn", "main:app", "--host", "0.0.0.0"]')


def vcs_heavy(s: Sub) -> None:
    """Installs straight from GitHub: branches, tags, and projects never on PyPI."""
    base = s.r.choice(PYTORCH_BASES + NGC_BASES)
    on_pypi = s.pick(ON_PYPI_VCS[2:], 1, 2)
    off = s.r.choice(OFF_PYPI_VCS)
    s.files["requirements.txt"] = "\n".join([*s.pick(ML_RANGES, 2, 4), ON_PYPI_VCS[0]]) + "\n"
    s.files["run.py"] = "import peft, transformers\nprint(peft.__version__)\n"
    s.run(f"FROM {base}", "WORKDIR /workspace", "COPY requirements.txt .",
          "RUN pip install -r requirements.txt",
          f"RUN pip install {' '.join(on_pypi)}", f"RUN pip install {off}",
          "COPY run.py .", 'CMD ["python", "run.py"]')


def extras_markers(s: Sub) -> None:
    """Extras and markers on the command line, some unquoted ranges, a -c file."""
    base = s.r.choice(SLIM_BASES + PYTORCH_BASES[:1])
    s.files["constraints.txt"] = "\n".join([*s.pins(2, 3), "numpy<2"]) + "\n"
    s.files["serve.py"] = HELM_SERVER
    s.run(f"FROM {base}", "COPY constraints.txt /etc/pip-constraints.txt",
          f"RUN {s.pip()} install -c /etc/pip-constraints.txt "
          "'transformers[torch,sentencepiece]>=4.33,<4.35' 'accelerate>=0.21' "
          "'uvicorn[standard]>=0.23' fastapi 'typing-extensions; python_version < \"3.11\"'",
          f"RUN {s.pip()} install \"{s.r.choice(DRIFT)}\" einops>=0.6",
          "COPY serve.py /srv/", "WORKDIR /srv",
          'CMD ["uvicorn", "serve:app", "--host", "0.0.0.0", "--port", "8000"]')


def tgi_server(s: Sub) -> None:
    """A ghcr.io text-generation-inference base with a custom handler installed on top."""
    base = s.r.choice(GHCR_BASES)
    s.files["handler/requirements.txt"] = "\n".join(
        [*SERVER_NEW, "sentencepiece", "huggingface-hub>=0.16"]) + "\n"
    s.files["handler/app.py"] = HELM_SERVER
    s.run(f"FROM {base}", "WORKDIR /handler", "COPY handler/ /handler/",
          "RUN pip install --no-cache-dir -r /handler/requirements.txt",
          f"RUN pip install {s.r.choice(DRIFT[:2])}",
          'ENTRYPOINT ["python", "-m", "uvicorn", "app:app", "--host", "0.0.0.0"]')


def conflicting(s: Sub) -> None:
    """A submission whose own pins never held together (transformers 4.34 needs tokenizers
    0.14): fix must leave its lines alone and say why."""
    base = s.r.choice(PYTORCH_BASES[:3])
    s.files["requirements.txt"] = ("transformers==4.34.1\ntokenizers==0.13.3\n"
                                   + "\n".join(SERVER) + "\n")
    s.files["main.py"] = HELM_SERVER
    s.run(f"FROM {base}", "WORKDIR /w", "COPY requirements.txt .",
          "RUN pip install -r requirements.txt", "COPY main.py .",
          'CMD ["uvicorn", "main:app", "--host", "0.0.0.0"]')


def conda_env(s: Sub) -> None:
    """A conda environment.yml with a pip: section (issue 11 counts these apart)."""
    s.kind = "environment.yml"
    base = s.r.choice(CONDA_BASES)
    pip_deps = unique([*s.pick(ML_RANGES, 2, 4), s.r.choice(DRIFT[:2]), *s.pins(0, 2)])
    s.files["environment.yml"] = (
        "name: llm\nchannels:\n  - pytorch\n  - nvidia\n  - conda-forge\ndependencies:\n"
        "  - python=3.10\n  - pytorch=2.1.0\n  - pytorch-cuda=12.1\n  - pip\n  - pip:\n"
        + "".join(f"    - {d}\n" for d in pip_deps))
    s.files["main.py"] = HELM_SERVER
    tool = "micromamba" if "micromamba" in base else "conda"
    s.run(f"FROM {base}", "COPY environment.yml /tmp/environment.yml",
          f"RUN {tool} env create -f /tmp/environment.yml && {tool} clean -afy"
          if tool == "conda" else
          "RUN micromamba install -y -n base -f /tmp/environment.yml && micromamba clean -afy",
          "COPY main.py /app/main.py", "WORKDIR /app",
          'CMD ["python", "-m", "uvicorn", "main:app", "--host", "0.0.0.0"]')


LAYOUTS: list[Callable[[Sub], None]] = [
    neurips_starter, lit_gpt, helm_uv, hf_image, cuda_devel, multistage, pyproject, setup_py,
    vcs_heavy, extras_markers, tgi_server, conda_env]
# The conflicting layout is rare in the wild: one submission in every 48.
RARE = {47: conflicting}


def closure_submission(r: random.Random, index: int) -> tuple[str, dict[str, str]]:
    """(kind, files) of submission `index`: kind is `docker` or `environment.yml`."""
    s = Sub(r)
    layout = RARE.get(index % 48) or LAYOUTS[index % len(LAYOUTS)]
    layout(s)
    s.files["Dockerfile"] = f"# {layout.__name__}\n" + "\n".join(s.lines) + "\n"
    return s.kind, s.files


def generate_closure(out: Path, count: int, seed: int) -> dict[Path, str]:
    """Write `count` submissions under `out`; {submission folder: kind}."""
    if out.exists():
        shutil.rmtree(out)
    rng = random.Random(seed)
    kinds = {}
    for index in range(count):
        folder = out / f"sub{index:05d}"
        kind, files = closure_submission(rng, index)
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
        kinds[folder] = kind
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=48)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    kinds = generate_closure(args.out, args.count, args.seed)
    print(f"{len(kinds)} submissions in {args.out} "
          f"({sum(k == 'environment.yml' for k in kinds.values())} with environment.yml)")


if __name__ == "__main__":
    main()
