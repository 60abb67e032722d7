"""`carpenter smoke` end to end on the real engine, against really built images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from typing import Any

import pytest

from carpenter.containers import SMOKE_LABEL as LABEL

pytestmark = pytest.mark.engine


def carpenter(*args: str, env: dict[str, str] | None = None,
              timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carpenter.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})},
                          check=False)


def smoke_json(*args: str) -> tuple[int, dict[str, Any]]:
    proc = carpenter("smoke", "--format", "json", *args)
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def checks_of(data: dict[str, Any], server: bool = False) -> dict[str, dict[str, Any]]:
    items = data["server"]["checks"] if server else data["checks"]
    return {c["name"]: c for c in items}


def leftovers(docker_client) -> list[str]:
    names = [c.name for c in docker_client.containers.list(all=True, filters={"label": LABEL})]
    return names + [n.name for n in docker_client.networks.list(filters={"label": LABEL})]


HARNESS_CHECKS = ["losses finite", "loss falls", "adapter save/reload", "merge logits",
                  "generation non-empty", "generation same after merge", "same-seed rerun"]


@pytest.mark.parametrize(("name", "transformers", "peft", "adapter_file"), [
    ("current", "5.24.0", "0.21.2", "adapter_model.safetensors"),
    ("era2023", "4.35.2", "0.6.2", "adapter_model.bin"),
])
def test_harness_passes_unchanged_on_both_stacks(smoke_image, docker_client, name: str,
                                                 transformers: str, peft: str,
                                                 adapter_file: str) -> None:
    code, data = smoke_json(smoke_image(name))
    assert code == 0, json.dumps(data, indent=1)
    assert data["passed"] and data["status"] == "passed"
    assert data["versions"]["transformers"] == transformers and data["versions"]["peft"] == peft
    assert data["versions"]["python"].startswith("3.11.")  # the image's Python, not the host's
    checks = checks_of(data)
    assert all(checks[n]["status"] == "pass" for n in HARNESS_CHECKS)
    assert adapter_file in checks["adapter save/reload"]["detail"]
    assert checks["autocast step"]["status"] == "skip"
    assert len(data["losses"]) == 20 and data["losses"][-1] < data["losses"][0]
    assert data["trainable_params"] == 17408
    # No NVIDIA runtime here: --gpu auto must fall back and say why.
    assert "could not select device driver" in data["gpu_fallback"]
    assert data["device"].startswith("cpu")
    assert {"container_start", "imports", "training", "checks"} <= set(data["timings"])
    assert leftovers(docker_client) == []


def test_non_root_image_with_a_failing_entrypoint_still_passes(smoke_image) -> None:
    code, data = smoke_json("--gpu", "none", smoke_image("current-nonroot"))
    assert code == 0, json.dumps(data["checks"], indent=1)
    assert data["gpu_fallback"] is None  # --gpu none never asks for a GPU


def test_image_without_peft_fails_clearly(smoke_image) -> None:
    proc = carpenter("smoke", "--gpu", "none", smoke_image("nopeft"))
    assert proc.returncode == 1
    assert "FAIL  import peft" in proc.stdout and "image lacks peft" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_base_image_without_torch_fails_clearly(docker_client) -> None:
    from smoke_images import BASE_IMAGE

    code, data = smoke_json("--gpu", "none", BASE_IMAGE)
    assert code == 1
    assert set(data["missing"]) == {"torch", "transformers", "peft"}
    assert checks_of(data)["import torch"]["detail"] == "image lacks torch (not installed)"


def test_timeout_stops_and_removes_the_container(smoke_image, docker_client) -> None:
    code, data = smoke_json("--gpu", "none", "--timeout", "2", smoke_image("current"))
    assert code == 1
    assert checks_of(data)["harness finished"]["detail"] == "timed out after 2 s (--timeout)"
    assert leftovers(docker_client) == []


def test_cannot_run_exits_2_without_traceback() -> None:
    proc = carpenter("smoke", "carpenter-smoke/does-not-exist:nope")
    assert proc.returncode == 2
    assert "no such image: carpenter-smoke/does-not-exist:nope" in proc.stderr
    proc = carpenter("smoke", "anything", env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert proc.returncode == 2
    assert "no Docker engine reachable" in proc.stderr
    for output in (proc.stdout, proc.stderr):
        assert "Traceback" not in output


def test_toy_server_honours_the_contract(smoke_image, docker_client) -> None:
    code, data = smoke_json("--profile", "neurips-2023", "--gpu", "none", smoke_image("server"))
    assert code == 0, json.dumps(data["server"], indent=1)
    server = checks_of(data, server=True)
    assert server["server ready on port 80"]["status"] == "pass"
    assert all(c["status"] == "pass" for c in server.values())
    assert {"process", "tokenize", "decode"} <= set(data["server"]["latency_ms"])
    assert data["server"]["address"]
    assert leftovers(docker_client) == []


def server_checks(docker_client, image: str) -> dict[str, dict[str, Any]]:
    """Only the server half (the harness half of these images is covered above)."""
    from carpenter.smoke.result import SmokeResult
    from carpenter.smoke.runner import SmokeOptions
    from carpenter.smoke.server import check_server

    options = SmokeOptions(gpu="none", timeout=300, server=True)
    out = check_server(docker_client, image, options, SmokeResult(image=image))
    assert leftovers(docker_client) == []
    return {c.name: asdict(c) for c in out.checks}


def test_wrong_port_is_caught(smoke_image, docker_client) -> None:
    ready = server_checks(docker_client, smoke_image("server-wrongport"))["server ready on port 80"]
    assert ready["status"] == "fail"
    assert ready["detail"].startswith("wrong port: the server listens on 8000, not 80")


def test_field_that_422s_is_caught(smoke_image, docker_client) -> None:
    server = server_checks(docker_client, smoke_image("server-strict"))
    assert server["server ready on port 80"]["status"] == "pass"
    assert "echo_prompt: Field required" in server["health-check body"]["detail"]
    process = server["process (all fields + HELM extras)"]
    assert process["status"] == "fail" and "422 on fields HELM sends" in process["detail"]
    assert "top_p" in process["detail"]
    assert server["tokenize"]["status"] == "pass"
