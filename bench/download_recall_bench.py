"""Benchmark (issue 14): build-time downloads hidden in scripts, hub clones and cloud copies.

Most LLM submissions fetch weights and data through their own code: `RUN python download.py`
whose script calls `snapshot_download`, `from_pretrained(args.model)` with an argparse default,
`load_dataset`, `nltk.download`, `torch.hub.load`, urllib/requests, or shells out to wget/curl;
lit-gpt's `scripts/download.py --repo_id`; `git clone https://huggingface.co/...`; `gsutil cp`,
`aws s3 cp`, `azcopy`. This generates one submission per shape (positives) and per clean
look-alike (negatives: the same scripts run at container start, local paths, helpers defined
but never called, pinned and checksummed fetches), scans each with ONE `carpenter scan
--format json` process and prints recall and precision of the download findings. Figures only.

    PYTHONPATH=. .venv/bin/python bench/download_recall_bench.py [--show]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOWNLOAD_RULES = {"DL001", "DL002", "DL004", "GIT001"}
SHA = "0123456789abcdef0123456789abcdef01234567"
HEAD = "FROM python:3.10-slim@sha256:" + "b" * 64 + "\nWORKDIR /app\nCOPY . .\n"

# name -> (Dockerfile tail, {context file: text}); the download is always on the RUN line 4.
POSITIVES: dict[str, tuple[str, dict[str, str]]] = {
    "snapshot_download": ("RUN python download.py\n", {"download.py": (
        "from huggingface_hub import snapshot_download\n\n"
        'snapshot_download("mistralai/Mistral-7B-v0.1", local_dir="/models/base")\n')}),
    "hf_hub_download-constant": ("RUN python3 cache.py\n", {"cache.py": (
        "from huggingface_hub import hf_hub_download\n\nREPO = \"TheBloke/Llama-2-7B-GGUF\"\n"
        'hf_hub_download(repo_id=REPO, filename="llama-2-7b.Q4_K_M.gguf")\n')}),
    "from_pretrained-argparse": ("RUN python prepare.py\n", {"prepare.py": (
        "import argparse\nfrom transformers import AutoModelForCausalLM\n\n"
        "parser = argparse.ArgumentParser()\n"
        'parser.add_argument("--model", default="meta-llama/Llama-2-7b-hf")\n'
        "args = parser.parse_args()\nAutoModelForCausalLM.from_pretrained(args.model)\n")}),
    "load_dataset": ("RUN python data.py\n", {"data.py": (
        "from datasets import load_dataset\n\n"
        'ds = load_dataset("tatsu-lab/alpaca")\nds.save_to_disk("/data/alpaca")\n')}),
    "nltk-in-script": ("RUN python setup_nltk.py\n", {"setup_nltk.py": (
        'import nltk\n\nnltk.download("punkt")\n')}),
    "torch.hub.load": ("RUN python warm.py\n", {"warm.py": (
        'import torch\n\ntorch.hub.load("pytorch/vision", "resnet18", pretrained=True)\n')}),
    "urlretrieve": ("RUN python fetch.py\n", {"fetch.py": (
        "import urllib.request\n\nURL = \"https://example.org/weights/adapter.bin\"\n"
        'urllib.request.urlretrieve(URL, "adapter.bin")\n')}),
    "requests-get": ("RUN python fetch.py\n", {"fetch.py": (
        "import requests\n\n"
        'r = requests.get("https://example.org/data/train.jsonl", timeout=60)\n'
        'open("train.jsonl", "wb").write(r.content)\n')}),
    "subprocess-wget": ("RUN python get.py\n", {"get.py": (
        "import subprocess\n\n"
        'subprocess.run(["wget", "https://example.org/ckpt/lora.safetensors"], check=True)\n')}),
    "os.system-curl": ("RUN python get.py\n", {"get.py": (
        'import os\n\nos.system("curl -L -o lora.bin https://example.org/ckpt/lora.bin")\n')}),
    "local-import-two-levels": ("RUN python main.py\n", {
        "main.py": "from helpers import loader\n\nloader.fetch_all()\n",
        "helpers/__init__.py": "",
        "helpers/loader.py": ("from huggingface_hub import snapshot_download\n\n"
                              "def fetch_all():\n"
                              '    snapshot_download("EleutherAI/pythia-1b")\n\n'
                              "fetch_all()\n")}),
    "lit-gpt-download": ("RUN python scripts/download.py --repo_id meta-llama/Llama-2-7b-hf\n",
                         {}),
    "hub-git-clone": ("RUN git clone https://huggingface.co/mistralai/Mistral-7B-v0.1\n", {}),
    "hub-dataset-clone": ("RUN git clone https://huggingface.co/datasets/tatsu-lab/alpaca\n",
                          {}),
    "gsutil-cp": ("RUN gsutil cp gs://my-bucket/checkpoints/lora.bin /models/\n", {}),
    "aws-s3-cp": ("RUN aws s3 cp s3://my-bucket/weights/ /models/ --recursive\n", {}),
    "gcloud-storage-cp": ("RUN gcloud storage cp gs://my-bucket/data.jsonl /data/\n", {}),
    "azcopy": ("RUN azcopy copy 'https://acct.blob.core.windows.net/c/model.bin' /models/\n",
               {}),
    "python-c-nltk": ("RUN python -c \"import nltk; nltk.download('stopwords')\"\n", {}),
    "huggingface-cli": ("RUN huggingface-cli download microsoft/phi-2 --local-dir /models\n",
                        {}),
}
NEGATIVES: dict[str, tuple[str, dict[str, str]]] = {
    "download-at-run-time": ('CMD ["python", "download.py"]\n', {"download.py": (
        "from huggingface_hub import snapshot_download\n\n"
        'snapshot_download("mistralai/Mistral-7B-v0.1")\n')}),
    "local-files-only": ("RUN python prepare.py\n", {"prepare.py": (
        "import json\n\nrows = json.load(open(\"data/train.json\"))\n"
        'json.dump(rows[:100], open("data/small.json", "w"))\n')}),
    "from_pretrained-local-path": ("RUN python convert.py\n", {"convert.py": (
        "from transformers import AutoModelForCausalLM\n\n"
        'm = AutoModelForCausalLM.from_pretrained("/app/weights/base")\n'
        'm.save_pretrained("/app/weights/merged")\n')}),
    "helper-defined-never-called": ("RUN python check.py\n", {
        "check.py": "from tools import describe\n\nprint(describe())\n",
        "tools.py": ("from huggingface_hub import snapshot_download\n\n"
                     "def describe():\n    return 'ok'\n\n"
                     "def fetch(repo):\n    return snapshot_download(repo)\n")}),
    "python-c-version": ("RUN python -c \"import nltk; print(nltk.__version__)\"\n", {}),
    "pinned-github-clone": (f"RUN git clone https://github.com/org/tool && "
                            f"git -C tool checkout {SHA}\n", {}),
    "checksummed-wget": ("RUN wget -q https://example.org/v1/tool.tar.gz && echo \""
                         + "c" * 64 + "  tool.tar.gz\" | sha256sum -c -\n", {}),
    "gsutil-version": ("RUN gsutil --version || true\n", {}),
    "script-with-help-only": ("RUN python serve.py --help\n", {"serve.py": (
        "import argparse\n\np = argparse.ArgumentParser()\n"
        'p.add_argument("--port", type=int, default=8080)\np.parse_args()\n')}),
}


def make(root: Path, name: str, tail: str, files: dict[str, str]) -> Path:
    sub = root / name
    sub.mkdir(parents=True)
    (sub / "Dockerfile").write_text(HEAD + tail)
    for rel, text in files.items():
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        (sub / rel).write_text(text)
    return sub


def downloads(sub: Path) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "carpenter.cli", "scan", "--no-cache", "--format", "json", "."],
        cwd=sub, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    return [f for f in json.loads(proc.stdout)["findings"] if f["rule"] in DOWNLOAD_RULES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print every case's findings")
    args = parser.parse_args()
    found_pos = false_neg = 0
    with tempfile.TemporaryDirectory() as tmp:
        for label, cases, positive in (("positive", POSITIVES, True),
                                       ("look-alike", NEGATIVES, False)):
            for name, (tail, files) in cases.items():
                hits = downloads(make(Path(tmp), name, tail, files))
                ok = any(h["line"] == 4 for h in hits) if positive else not hits
                found_pos += positive and ok
                false_neg += (not positive) and (not ok)
                if args.show or not ok:
                    rules = ", ".join(f"{h['rule']}@{h['line']}" for h in hits) or "none"
                    print(f"  {'ok  ' if ok else 'MISS' if positive else 'FALSE'} {label:10} "
                          f"{name:28} {rules}")
    print(f"download shapes found: {found_pos}/{len(POSITIVES)} "
          f"({found_pos / len(POSITIVES):.0%})")
    print(f"look-alikes reported:  {false_neg}/{len(NEGATIVES)}")


if __name__ == "__main__":
    main()
