"""`smoke --train` on the submission's own training entry point, real engine, offline, CPU.

The fixture (fixtures/smoke/train-lora) is a 2023-style training image: its CMD fine-tunes
meta-llama/Llama-2-7b-hf by hub id with LoRA and the transformers Trainer on a JSONL dataset
read from DATASET_PATH, for MAX_STEPS steps.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.engine

LLAMA = "meta-llama/Llama-2-7b-hf"
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "smoke" / "train-lora"


def train_smoke(image: str, *args: str) -> tuple[int, dict[str, Any], dict[str, Any]]:
    cmd = [sys.executable, "-m", "carpenter.cli", "smoke", "--format", "json", "--no-harness",
           "--train", "--gpu", "none", "--timeout", "240", *args, image]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert "Traceback" not in proc.stderr and proc.stdout, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    return proc.returncode, data["train"], data


def test_training_entry_point_finishes_two_steps_offline(smoke_image) -> None:
    # No --model: the id comes from the submission's own train.py (--context), so the tiny
    # stand-in is there from the first attempt.
    code, train, data = train_smoke(smoke_image("train-lora"), "--context", str(FIXTURE))
    assert code == 0, json.dumps(train, indent=1)[-3000:]
    assert data["context_ids"] == [LLAMA]
    assert train["stage"] == "finished" and train["failure"] is None
    assert train["steps_logged"] == 2
    assert train["evidence"]["model-load"].startswith("trainable params")
    assert train["evidence"]["first-step"].startswith("{'loss':")
    assert [s["repo"] for s in train["substituted"]] == [LLAMA]
    assert train["notes"][0].startswith("weights substituted:")
    assert not any(n.startswith("first attempt failed") for n in train["notes"])
    assert train["command"] == ["python", "train.py"]


def test_missing_dataset_is_a_crash_with_its_evidence(smoke_image) -> None:
    code, train, _ = train_smoke(smoke_image("train-lora"), "--model", LLAMA,
                                 "--env", "DATASET_PATH=/data/alpaca_cleaned.jsonl")
    assert code == 1
    assert train["stage"] == "model-load"
    assert train["failure"]["class"] == "crash"
    assert train["failure"]["evidence"] == (
        "FileNotFoundError: [Errno 2] No such file or directory: '/data/alpaca_cleaned.jsonl'")
