"""No output format ever contains a full secret: text, JSON, SARIF, GitHub annotations, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from carpenter.core.redact import fingerprint, mask, redact
from carpenter.report.interface import FORMATS, get_reporter
from carpenter.scan.engine import ScanOptions, scan_paths

from .conftest import fake_token, git, write

HF = fake_token(11)
HF_OLD = fake_token(12)
ORG = fake_token(13, "api_org_")
WANDB = "9d1e7c3b5a2f4e6d8c0b2a4f6e8d0c2b4a6f8e0d"
GHP = "ghp_" + "Zq8Wx6Vu4Ts2Rq0Po8Nm6Lk4Ji2Hg0Fe8Dc6Ba"
PASSWORD = "Xk29fjQp8LmZr4TyWv7N"
SECRETS = [HF, HF_OLD, ORG, WANDB, GHP, PASSWORD]


@pytest.fixture()
def leaky(tmp_path: Path) -> Path:
    """A repository leaking in every place the secret rules look."""
    repo = tmp_path / "repo"
    write(repo, {"old.py": f'TOKEN = "{HF_OLD}"\n', "Dockerfile": "FROM scratch\n"})
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "old token")
    (repo / "old.py").write_text("TOKEN = None\n")
    git(repo, "commit", "-qam", "drop it")
    write(repo, {
        "Dockerfile": (
            "FROM scratch\n"
            f"ENV HUGGINGFACE_TOKEN={HF}\n"
            f"# backup: {ORG}\n"
            f"RUN git clone https://me:{GHP}@github.com/me/x /x && wandb login {WANDB}\n"
            f"RUN DB_PASSWORD={PASSWORD} python -c 'print(1)'\n"
            "COPY . /app\n"
        ),
        "config.yaml": f"wandb:\n  api_key: {WANDB}\n",
        ".cache/huggingface/token": HF + "\n",
        "nb.ipynb": json.dumps({"cells": [{"outputs": [{"text": [f'"{HF}"']}]}]}),
    })
    return repo


def test_every_format_masks_every_secret(leaky: Path) -> None:
    report = scan_paths([str(leaky / "Dockerfile")], ScanOptions())
    rules = {f.rule for f in report.findings}
    assert {"SEC001", "SEC002", "SEC003", "SEC004"} <= rules
    for fmt in FORMATS:
        output = get_reporter(fmt).render(report)
        for secret in SECRETS:
            assert secret not in output, f"{fmt} output leaks {secret[:6]}..."
        assert "sha256:" in output or fmt == "github"


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_output_masks_every_secret(leaky: Path, fmt: str) -> None:
    done = subprocess.run([sys.executable, "-m", "carpenter.cli", "scan", "--format", fmt,
                           str(leaky / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    for secret in SECRETS:
        assert secret not in done.stdout and secret not in done.stderr


def test_mask_shows_prefix_four_characters_and_fingerprint() -> None:
    masked = mask(HF, "hf_")
    assert masked.startswith("hf_" + HF[3:7] + "...") and fingerprint(HF) in masked
    assert HF[7:] not in masked


@pytest.mark.parametrize("secret", SECRETS)
def test_redact_catches_each_secret_in_free_text(secret: str) -> None:
    line = {WANDB: f"WANDB_API_KEY={secret}", PASSWORD: f"password: {secret}"}.get(
        secret, f"value {secret} end")
    assert secret not in redact(line)


def test_redact_keeps_ordinary_text() -> None:
    text = ("commit 0c5a3e9b7d2f4a6c8e0b1d3f5a7c9e1b3d5f7a9c\n"
            "image sha256:" + "ab" * 32 + "\nmodel meta-llama/Llama-2-7b-hf\n")
    assert redact(text) == text
