"""GPU fallback and container options with a fake engine (the real engine is in test_engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import pytest

from carpenter.core.errors import EngineError
from carpenter.smoke import containers
from carpenter.smoke.runner import HARNESS_MOUNT, SmokeOptions, container_kwargs, no_result_reason

NO_DRIVER = 'could not select device driver "" with capabilities: [[gpu]]'


class FakeContainer:
    def __init__(self, engine: FakeEngine, kwargs: dict[str, Any]) -> None:
        self.engine, self.kwargs, self.removed = engine, kwargs, False

    def start(self) -> None:
        if self.kwargs.get("device_requests") and not self.engine.has_gpu:
            raise docker.errors.APIError("500 Server Error", explanation=NO_DRIVER)

    def remove(self, force: bool = False) -> None:
        self.removed = True

    def kill(self) -> None:
        pass


class FakeEngine:
    def __init__(self, has_gpu: bool) -> None:
        self.has_gpu = has_gpu
        self.created: list[FakeContainer] = []
        self.containers = self

    def create(self, image: str, **kwargs: Any) -> FakeContainer:
        container = FakeContainer(self, kwargs)
        self.created.append(container)
        return container


def test_auto_falls_back_to_cpu_and_says_why() -> None:
    engine = FakeEngine(has_gpu=False)
    container, fallback = containers.create_and_start(engine, "img", "auto", {"command": ["gpu"]},
                                                      {"command": ["cpu"]})
    assert fallback is not None and NO_DRIVER in fallback
    first, second = engine.created
    assert first.removed and first.kwargs["device_requests"]
    assert second is container and not second.removed
    assert second.kwargs["command"] == ["cpu"] and "device_requests" not in second.kwargs


def test_all_requires_a_gpu_and_none_never_asks() -> None:
    engine = FakeEngine(has_gpu=False)
    with pytest.raises(EngineError, match="--gpu all, but the engine cannot provide GPUs"):
        containers.create_and_start(engine, "img", "all", {})
    assert engine.created[0].removed
    container, fallback = containers.create_and_start(engine, "img", "none", {})
    assert fallback is None and container.kwargs["device_requests"] is None


def test_gpu_engine_keeps_the_gpu_request() -> None:
    engine = FakeEngine(has_gpu=True)
    container, fallback = containers.create_and_start(engine, "img", "auto", {})
    assert fallback is None and len(engine.created) == 1
    assert container.kwargs["device_requests"][0].capabilities == [["gpu"]]


def test_harness_container_is_locked_down(tmp_path: Path) -> None:
    kwargs = {**containers.HARDENING,
              **container_kwargs(SmokeOptions(), tmp_path, "cpu", gpu_attached=False)}
    assert kwargs["network_mode"] == "none"
    assert kwargs["cap_drop"] == ["ALL"] and kwargs["security_opt"] == ["no-new-privileges"]
    assert kwargs["mem_limit"] == kwargs["memswap_limit"] and kwargs["pids_limit"] > 0
    assert kwargs["volumes"] == {str(tmp_path): {"bind": HARNESS_MOUNT, "mode": "ro"}}
    assert kwargs["entrypoint"][0] == "/bin/sh"  # the image's own ENTRYPOINT is overridden
    assert kwargs["environment"]["HF_HUB_OFFLINE"] == "1"
    assert kwargs["environment"]["OMP_NUM_THREADS"] == "1"
    assert kwargs["command"][kwargs["command"].index("--device") + 1] == "cpu"


def test_reasons_when_the_harness_gives_no_result() -> None:
    options = SmokeOptions(mem_limit="2g")
    assert "out of memory (limit 2g)" in no_result_reason({"OOMKilled": True, "ExitCode": 137},
                                                          "", options)
    assert no_result_reason({"ExitCode": 127}, "carpenter: no python3 or python on PATH",
                            options) == "image lacks python (no python3 or python on PATH)"
    assert "Segmentation" in no_result_reason({"ExitCode": 139}, "boom\nSegmentation fault",
                                              options)


PROC_NET_TCP = b"""  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid
   0: 0B00007F:9D2B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0
   1: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0
   2: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0
   3: 020011AC:0050 050011AC:D431 01 00000000:00000000 00:00000000 00000000     0
"""


class ExecContainer:
    def __init__(self, output: bytes) -> None:
        self.output = output

    def exec_run(self, cmd: list[str], **kwargs: Any) -> tuple[int, bytes]:
        return 0, self.output


def test_listening_sockets_skip_docker_dns_and_established() -> None:
    from carpenter.smoke.server import listening_sockets, reachable_ports

    sockets = listening_sockets(ExecContainer(PROC_NET_TCP))
    assert sockets == {("0.0.0.0", 8000), ("127.0.0.1", 80)}
    assert reachable_ports(sockets) == {8000}


def test_loopback_only_server_is_told_to_bind_all_interfaces() -> None:
    from carpenter.smoke.contract import load_contract
    from carpenter.smoke.result import ServerResult
    from carpenter.smoke.server import wrong_port

    out = ServerResult(contract="neurips-2023", port=80)
    wrong_port(out, load_contract("neurips-2023"), {("127.0.0.1", 80)})
    assert "listens on 127.0.0.1:80 only" in out.checks[0].detail
    out = ServerResult(contract="neurips-2023", port=80)
    wrong_port(out, load_contract("neurips-2023"), {("0.0.0.0", 8000), ("::", 8000)})
    assert out.checks[0].detail.startswith("wrong port: the server listens on 8000, not 80")


def test_attached_gpu_that_torch_cannot_see_fails() -> None:
    from carpenter.smoke.result import SmokeResult
    from carpenter.smoke.runner import check_gpu_visible

    cpu_wheel = SmokeResult(image="x", status="passed",
                            versions={"torch": "2.13.0+cpu", "cuda": None,
                                      "cuda_available": False})
    check_gpu_visible(cpu_wheel)
    assert not cpu_wheel.passed
    assert "CPU-only build" in cpu_wheel.checks[-1].detail
    mismatch = SmokeResult(image="x", status="passed",
                           versions={"torch": "2.1.0", "cuda": "12.1", "cuda_available": False})
    check_gpu_visible(mismatch)
    assert "built for CUDA 12.1" in mismatch.checks[-1].detail
    ok = SmokeResult(image="x", status="passed", device="cuda:0 (H200)",
                     versions={"torch": "2.1.0", "cuda": "12.1", "cuda_available": True})
    check_gpu_visible(ok)
    assert ok.passed and ok.checks[-1].status == "pass"
    no_torch = SmokeResult(image="x", status="failed", versions={"torch": None})
    check_gpu_visible(no_torch)
    assert no_torch.checks == []
