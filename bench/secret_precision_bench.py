"""Benchmark (issue 14): precision and recall of `carpenter scan` secret findings in LLM code.

Real submissions' Python files are full of words of the domain (`pad_token`, `max_new_tokens`,
`token=args.hf_access_token`, `"TOKEN_CLS": ...`, `revision="<40 hex>"`). This generates
submissions whose context files are made of such look-alikes (the shapes of tokenizer and
generation parameters, PEFT task types, argparse plumbing, vault look-ups, notebooks with base64
images, configs and launch scripts) and plants real-looking leaks of every kind at known lines
(string literals, comments, `.env`, YAML, shell exports, notebook cells, URLs, `.netrc`). Each
submission is scanned by ONE `carpenter scan --format json` process; a secret finding at a
planted line is a true positive, anywhere else a false positive. Figures only, no assertions.

    PYTHONPATH=. .venv/bin/python bench/secret_precision_bench.py [--count 40] [--seed 14]

The issue's goal: at most 2% of secret findings in context files are false, and no planted
token is lost.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET_RULES = {"SEC001", "SEC002", "SEC003", "SEC005"}

# Look-alikes: lines of real LLM code that name tokens, keys and secrets but hold no secret.
PY_LOOKALIKES = [
    "generate_token_num = input_data.max_new_tokens",
    "self.token_dim = config.token_dim",
    'special = {{"eos_token": tokenizer.convert_ids_to_tokens(tokenizer.eos_token_id)}}',
    "tokenizer.pad_token = tokenizer.eos_token",
    'tokenizer.pad_token = "<pad>"',
    'tokenizer.add_special_tokens({{"pad_token": "[PAD]"}})',
    'eos_token = "</s>"',
    'bos_token="<s>"',
    'sep_token = "<|endoftext|>"',
    'chat_tokens = {{"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]}}',
    'TASK_TYPES = {{"TOKEN_CLS": PeftModelForTokenClassification, '
    '"CAUSAL_LM": PeftModelForCausalLM}}',
    "model = AutoModelForCausalLM.from_pretrained(args.model, token=args.hf_access_token)",
    "tok = AutoTokenizer.from_pretrained(name, use_auth_token=True)",
    'parser.add_argument("--hf_token", type=str, default=None, help="Hugging Face token")',
    'parser.add_argument("--access_token", default=os.environ.get("HF_TOKEN"))',
    'HF_TOKEN = os.getenv("HF_TOKEN")',
    'login(token=os.environ["HUGGINGFACE_TOKEN"])',
    "secret = get_secret(name)",
    'secret_name = "prod/hf-token"',
    'token_type_ids = inputs["token_type_ids"]',
    'auth_token = request.headers.get("Authorization", "")',
    "api_key = None",
    'OPENAI_API_KEY = "YOUR_API_KEY"',
    'wandb_key = "<your wandb key>"',
    'HF_TOKEN = "hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
    'model = AutoModelForCausalLM.from_pretrained("{model}", revision="{hex40}")',
    'CHECKSUM = "{hex32}"',
    "password_hash = hashlib.sha256(password.encode()).hexdigest()",
    "app.secret_key = os.urandom(24)",
    "key = jax.random.PRNGKey(seed)",
    'cache_key = f"{{model_name}}-{{revision}}"',
    "max_tokens = min(req.max_tokens, 2048)",
    "num_tokens = len(tokenizer.encode(prompt))",
    "tokens_per_second = num_tokens / elapsed",
    'logits = outputs.logits[:, -1, :] / temperature  # next-token scores',
    "api_key = settings.production_api_key",
    "token = self.tokenizer.decode(ids[i], skip_special_tokens=True)",
    'prompt_tokens = tokenizer(prompt, return_tensors="pt").input_ids',
    'KEY_PREFIX = "lora_"',
    "secret_len = 32",
    'access_token_env = "HF_TOKEN"',
    'os.environ["TOKENIZERS_PARALLELISM"] = "false"',
    'wandb.init(project="neurips-llm", name=f"run-{{seed}}")',
    'commit = "{hex40}"  # upstream revision of the model',
    'EXPECTED_SHA256 = "{hex64}"',
    'run_id = "{b36}"',
    'image_b64 = "{b64}"',
]
YAML_LOOKALIKES = [
    "max_new_tokens: 512", "eos_token: \"</s>\"", "pad_token: \"<unk>\"",
    "hf_token: ${{HF_TOKEN}}", "wandb_api_key: ???", "tokenizer_name: {model}",
    "revision: {hex40}", "use_auth_token: true", "secret_name: hf-token",
    "token_budget: 4096", "api_key_env: OPENAI_API_KEY", "sha256: {hex64}",
]
SH_LOOKALIKES = [
    'export HF_TOKEN="$1"', "huggingface-cli login --token $HF_TOKEN",
    'python train.py --hf_token "${{HF_TOKEN}}" --max_new_tokens 256',
    "export WANDB_API_KEY=${{WANDB_API_KEY:?set it}}", "export TOKENIZERS_PARALLELISM=false",
    "git checkout {hex40}", "echo \"sha256 {hex64}\"",
]

# Planted leaks: (file kind, template); `{secret}` is the value, every line is a true finding.
LEAKS = [
    ("py", 'model = AutoModelForCausalLM.from_pretrained("{model}", token="{hf}")'),
    ("py", '# token="{hf}"  # TODO remove'),
    ("py", 'login("{hf}")'),
    ("py", 'os.environ["HF_TOKEN"] = "{hf}"'),
    ("py", 'wandb.login(key="{hex40}")'),
    ("py", 'openai.api_key = "sk-{b48}"'),
    ("py", 'GITHUB_TOKEN = "ghp_{b36}"'),
    ("py", 'api_key = "{b24}"'),
    ("py", 'hub_url = "https://user:{b24}@git.example.com/org/model.git"'),
    ("yaml", "hf_token: {hf}"),
    ("yaml", "wandb_api_key: {hex40}"),
    ("sh", "export HF_TOKEN={hf}"),
    ("sh", "export WANDB_API_KEY={hex40}"),
    ("sh", "git clone https://oauth2:ghp_{b36}@github.com/org/private-model.git"),
    ("env", "HUGGING_FACE_HUB_TOKEN={hf}"),
    ("env", "AWS_ACCESS_KEY_ID=AKIA{upper16}"),
    ("nb", "!huggingface-cli login --token {hf}"),
]
MODELS = ["meta-llama/Llama-2-7b-hf", "mistralai/Mistral-7B-v0.1", "EleutherAI/pythia-1b",
          "Qwen/Qwen-7B", "tiiuae/falcon-7b", "microsoft/phi-2"]


class Values:
    """Random values of each shape, fresh per use (entropy like real tokens)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def _pick(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def fill(self, template: str) -> str:
        alnum = string.ascii_letters + string.digits
        hexa = "0123456789abcdef"
        return template.format(
            hf="hf_" + self._pick(string.ascii_letters, 34), hex40=self._pick(hexa, 40),
            hex32=self._pick(hexa, 32), hex64=self._pick(hexa, 64),
            b24=self._pick(alnum, 24), b36=self._pick(alnum, 36), b48=self._pick(alnum, 48),
            upper16=self._pick(string.ascii_uppercase + string.digits, 16),
            b64=self._pick(alnum + "+/", 120), model=self.rng.choice(MODELS))


def _python_file(rng: random.Random, values: Values, leaks: list[str]) -> tuple[str, list[int]]:
    lines = ['"""Serving and fine-tuning helpers."""', "import os", ""]
    lines += [values.fill(rng.choice(PY_LOOKALIKES)) for _ in range(rng.randint(15, 35))]
    return _plant(rng, lines, leaks)


def _plant(rng: random.Random, lines: list[str], leaks: list[str]) -> tuple[str, list[int]]:
    planted: list[int] = []
    for leak in leaks:
        at = rng.randint(3, len(lines))
        lines.insert(at, leak)
        planted = [p + 1 if p >= at + 1 else p for p in planted] + [at + 1]
    return "\n".join(lines) + "\n", sorted(planted)


def _notebook(rng: random.Random, values: Values, leaks: list[str]) -> tuple[str, list[int]]:
    cells = [{"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [],
              "source": [values.fill(rng.choice(PY_LOOKALIKES)) + "\n" for _ in range(6)]}]
    cells.append({"cell_type": "code", "execution_count": 2, "metadata": {}, "source": ["plot()"],
                  "outputs": [{"output_type": "display_data", "metadata": {},
                               "data": {"image/png": values.fill("{b64}") * 20}}]})
    for leak in leaks:
        cells.append({"cell_type": "code", "execution_count": 3, "metadata": {}, "outputs": [],
                      "source": [leak]})
    text = json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
                      indent=1)
    planted = [i + 1 for i, line in enumerate(text.splitlines()) if any(k in line for k in leaks)]
    return text + "\n", planted


def make_submission(root: Path, index: int, rng: random.Random) -> dict[str, list[int]]:
    """Write one submission; return {relative path: planted lines}."""
    sub = root / f"sub{index:03d}"
    (sub / "src").mkdir(parents=True)
    values = Values(rng)
    (sub / "Dockerfile").write_text(
        "FROM python:3.10-slim@sha256:" + "a" * 64 + "\nWORKDIR /app\nCOPY . .\n"
        'CMD ["python", "src/server.py"]\n')
    chosen = rng.sample(LEAKS, rng.randint(0, 3)) if rng.random() < 0.6 else []
    by_kind: dict[str, list[str]] = {}
    for kind, template in chosen:
        by_kind.setdefault(kind, []).append(values.fill(template))
    labels: dict[str, list[int]] = {}
    for i in range(rng.randint(8, 14)):
        leaks = by_kind.pop("py", []) if i == 0 else []
        text, planted = _python_file(rng, values, leaks)
        labels[_write(sub, f"src/module_{i}.py", text)] = planted
    for name, pool, kind in (("config.yaml", YAML_LOOKALIKES, "yaml"),
                             ("run.sh", SH_LOOKALIKES, "sh")):
        lines = [values.fill(rng.choice(pool)) for _ in range(rng.randint(4, 10))]
        text, planted = _plant(rng, lines, by_kind.pop(kind, []))
        labels[_write(sub, name, text)] = planted
    text, planted = _notebook(rng, values, by_kind.pop("nb", []))
    labels[_write(sub, "explore.ipynb", text)] = planted
    if "env" in by_kind:
        text, planted = _plant(rng, ["# local settings", "DEBUG=1", "PORT=8080"],
                               by_kind.pop("env"))
        labels[_write(sub, ".env", text)] = planted
        labels["Dockerfile"] = [3]  # SEC003: `COPY . .` copies that credentials file
    labels[_write(sub, "requirements.txt", "torch==2.1.0\ntransformers==4.35.2\n")] = []
    return labels


def _write(sub: Path, rel: str, text: str) -> str:
    (sub / rel).write_text(text)
    return rel


def scan(sub: Path) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "carpenter.cli", "scan", "--no-cache", "--format", "json", "."],
        cwd=sub, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    return [f for f in json.loads(proc.stdout)["findings"] if f["rule"] in SECRET_RULES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--show", type=int, default=10, help="false/missed findings to print")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tp = fp = fn = files = 0
    false_rules: Counter[str] = Counter()
    examples: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.count):
            labels = make_submission(Path(tmp), index, rng)
            files += len(labels)
            sub = Path(tmp) / f"sub{index:03d}"
            found = {(f["path"], f["line"]) for f in scan(sub)}
            truth = {(path, line) for path, lines in labels.items() for line in lines}
            tp += len(found & truth)
            fn += len(truth - found)
            for path, line in sorted(found - truth):
                fp += 1
                false_rules[path.rsplit(".", 1)[-1]] += 1
                text = (sub / path).read_text().splitlines()[line - 1] if (sub / path).is_file() \
                    else ""
                examples.append(f"  false  {sub.name}/{path}:{line}: {text.strip()[:90]}")
            for path, line in sorted(truth - found):
                text = (sub / path).read_text().splitlines()[line - 1]
                examples.append(f"  missed {sub.name}/{path}:{line}: {text.strip()[:24]}...")
    findings = tp + fp
    print(f"submissions: {args.count}, context files: {files}, planted leaks: {tp + fn}")
    print(f"secret findings: {findings}  true: {tp}  false: {fp}  missed: {fn}")
    print(f"false share of findings: {fp / max(findings, 1):.1%}  (goal <= 2%)")
    print(f"recall of planted leaks: {tp / max(tp + fn, 1):.1%}  (goal 100%)")
    if false_rules:
        print("false findings by file type: " + ", ".join(f"{k}={v}" for k, v in
                                                          false_rules.most_common()))
    for line in examples[: args.show]:
        print(line)  # planted values are truncated: they are fake but look real


if __name__ == "__main__":
    main()
