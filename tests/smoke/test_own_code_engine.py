"""`smoke --server` on the submission's own code, end to end on the real engine, offline, CPU.

The fixture servers (fixtures/smoke/server-hub*) load mistralai/Mistral-7B-v0.1 by hub id at
import time, like the 2023 starter kit; smoke serves it (and a LoRA adapter) with tiny stand-ins.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.engine

MISTRAL = "mistralai/Mistral-7B-v0.1"
LORA = "carpenter-test/mistral-7b-neurips-lora"
TOKEN = "hf_" + "Zq7" * 12  # a made-up token shape: must never be printed


def own_smoke(image: str, *args: str, env: dict[str, str] | None = None,
              tmp_cache: str = "") -> tuple[int, dict[str, Any], str]:
    import os

    cmd = [sys.executable, "-m", "carpenter.cli", "smoke", "--format", "json", "--no-harness",
           "--server", "--gpu", "none", "--timeout", "240", *args, image]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, **(env or {})})
    assert "Traceback" not in proc.stderr and proc.stdout, proc.stderr[-2000:]
    return proc.returncode, json.loads(proc.stdout)["server"], proc.stdout + proc.stderr


def checks(server: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in server["checks"]}


def test_mistral_server_answers_offline_with_a_tiny_stand_in(smoke_image) -> None:
    code, server, _ = own_smoke(smoke_image("server-hub"), "--model", MISTRAL,
                                "--budget-requests", "3")
    assert code == 0, json.dumps(server, indent=1)[-3000:]
    assert server["substituted"][0]["repo"] == MISTRAL
    assert server["substituted"][0]["class"] == "MistralForCausalLM"
    assert server["notes"][0].startswith("weights substituted:")
    assert "not the model's quality" in server["notes"][0]
    assert server["budget"]["requests"] == 3 and server["budget"]["mean_s"] < 5
    assert "code path only" in checks(server)["budget (closed stage)"]["detail"]
    assert 50 < server["peak_memory_mb"] < 4000


def test_lora_adapter_id_gets_a_matching_tiny_adapter(smoke_image) -> None:
    code, server, _ = own_smoke(smoke_image("server-hub-lora"), "--model", MISTRAL,
                                "--adapter", LORA, "--budget-requests", "1")
    assert code == 0, json.dumps(server, indent=1)[-3000:]
    assert [s["repo"] for s in server["substituted"]] == [MISTRAL, LORA]
    assert server["substituted"][1]["family"] == "LoRA adapter"


def test_token_reading_server_needs_env_or_secret(smoke_image) -> None:
    image = smoke_image("server-hub-token")
    code, server, _ = own_smoke(image, "--model", MISTRAL, "--budget-requests", "0")
    assert code == 1
    assert server["failure"]["class"] == "missing-env"
    assert server["failure"]["evidence"] == "KeyError: 'HUGGINGFACE_TOKEN'"
    code, server, output = own_smoke(image, "--model", MISTRAL, "--budget-requests", "0",
                                     "--secret", "id=HUGGINGFACE_TOKEN,env=CARPENTER_TEST_HF",
                                     env={"CARPENTER_TEST_HF": TOKEN})
    assert code == 0, json.dumps(server, indent=1)[-3000:]
    assert TOKEN not in output
    code, server, output = own_smoke(image, "--model", MISTRAL, "--budget-requests", "0",
                                     "--env", f"HUGGINGFACE_TOKEN={TOKEN}")
    assert code == 0 and TOKEN not in output


def test_slow_server_is_too_slow_for_the_closed_stage(smoke_image) -> None:
    code, server, _ = own_smoke(smoke_image("server-hub-slow"), "--model", MISTRAL,
                                "--budget-requests", "1")
    assert code == 1
    found = checks(server)
    assert found["budget (open stage)"]["status"] == "pass"
    assert found["budget (closed stage)"]["detail"].startswith("too slow: 5,000 requests need 1")
    assert server["failure"]["class"] == "timeout"


def test_missing_module_is_an_import_error(smoke_image) -> None:
    code, server, _ = own_smoke(smoke_image("server-hub"), "--model", MISTRAL,
                                "--env", "EXTRA_IMPORT=flash_attn", "--budget-requests", "0")
    assert code == 1
    assert server["failure"]["class"] == "import-error"
    assert "flash_attn" in server["failure"]["evidence"]


def test_id_named_in_the_offline_failure_is_substituted_on_a_retry(smoke_image) -> None:
    code, server, _ = own_smoke(smoke_image("server-hub"), "--budget-requests", "0")
    assert code == 0, json.dumps(server, indent=1)[-3000:]
    assert [s["repo"] for s in server["substituted"]] == [MISTRAL]
    assert any(n.startswith("first attempt failed (network:") for n in server["notes"])


# One fixture per failure class, all on the server-hub image through --env (no image of their
# own): each asserts the class and that the evidence is the line naming the cause.

def test_server_dying_with_its_own_traceback_is_a_crash(smoke_image) -> None:
    # SLEEP_PER_REQUEST_S is parsed with float() at import: a bad value kills the server before
    # it listens, with a traceback no failure pattern knows.
    code, server, _ = own_smoke(smoke_image("server-hub"), "--model", MISTRAL,
                                "--env", "SLEEP_PER_REQUEST_S=fast", "--budget-requests", "0")
    assert code == 1
    assert checks(server)["server ready on port 80"]["detail"] == (
        "the server exited with code 1 before answering")
    assert server["failure"]["class"] == "crash"
    assert server["failure"]["evidence"] == "ValueError: could not convert string to float: 'fast'"


def test_weights_folder_missing_from_the_image_is_a_model_load_failure(smoke_image) -> None:
    code, server, _ = own_smoke(smoke_image("server-hub"), "--model", MISTRAL,
                                "--env", "MODEL_ID=/models/not-there", "--budget-requests", "0")
    assert code == 1
    assert server["failure"]["class"] == "model-load"
    assert server["failure"]["evidence"].startswith("OSError: Repo id must be in the form")
    assert server["failure"]["evidence"].endswith("'/models/not-there'. Use `repo_type` "
                                                  "argument if needed.")
    # The missing folder is no hub id: nothing to substitute, so no second attempt.
    assert not any(n.startswith("first attempt failed") for n in server["notes"])


def test_server_retrying_the_hub_is_a_network_failure(smoke_image) -> None:
    # The hub client retries a refused connection 5 times (1+2+4+8+8 s per file, hard-coded in
    # huggingface_hub 2.x, no variable shortens it): the server would exit after ~50 s. A 20 s
    # deadline classifies the hang from the retry lines it has logged by then.
    code, server, _ = own_smoke(smoke_image("server-hub"), "--no-tiny-model", "--timeout", "20",
                                "--budget-requests", "0")
    assert code == 1
    assert server["substituted"] == []
    assert server["failure"]["class"] == "network"
    evidence = server["failure"]["evidence"]
    assert "Connection refused' thrown while requesting HEAD https://huggingface.co/" in evidence
    assert f"huggingface.co/{MISTRAL}/resolve/main/" in evidence


def test_server_over_its_memory_is_out_of_memory(smoke_image) -> None:
    code, server, _ = own_smoke(smoke_image("server-hub"), "--model", MISTRAL, "--memory", "300m",
                                "--env", "ALLOCATE_MB=600", "--budget-requests", "0")
    assert code == 1
    assert checks(server)["server ready on port 80"]["detail"] == (
        "the server exited with code 137 before answering")
    assert server["failure"]["class"] == "out-of-memory"
    assert server["failure"]["evidence"] == (
        "the container was OOM-killed at its 300 MiB limit (exit 137)")
