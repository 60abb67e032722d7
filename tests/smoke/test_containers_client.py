"""carpenter.containers without an engine: one connect() (one timeout, one error) and sweep."""

from __future__ import annotations

import os
import socket
from typing import Any

import docker
import pytest

from carpenter import containers
from carpenter.core.errors import EngineError


@pytest.mark.parametrize("objects", [False, True])
def test_connect_fails_with_one_located_message(monkeypatch, objects: bool) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/carpenter-test.sock")
    with pytest.raises(EngineError) as caught:
        containers.connect(objects=objects)
    assert "no Docker engine reachable at unix:///nonexistent/carpenter-test.sock" in str(
        caught.value)


@pytest.mark.parametrize("objects, cls", [(False, docker.APIClient), (True, docker.DockerClient)])
def test_connect_uses_one_timeout_for_both_client_kinds(monkeypatch, objects: bool,
                                                        cls: type) -> None:
    seen: dict[str, Any] = {}

    def fake_init(self: Any, **kwargs: Any) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(cls, "__init__", fake_init)
    monkeypatch.setattr(cls, "ping", lambda self: True)
    client = containers.connect(objects=objects)
    assert isinstance(client, cls)
    assert seen["timeout"] == containers.API_TIMEOUT_S and seen["version"] == "auto"


class FakeItem:
    def __init__(self, item_labels: dict[str, str], with_kill: bool = True) -> None:
        self.labels = item_labels
        self.attrs = {"Labels": item_labels}
        self.removed = False
        if with_kill:
            self.kill = lambda: None

    def remove(self, force: bool = False) -> None:
        self.removed = True


class FakeClient:
    def __init__(self, items: list[FakeItem], nets: list[FakeItem]) -> None:
        self.containers = type("C", (), {"list": lambda _s, **kw: items})()
        self.networks = type("N", (), {"list": lambda _s, **kw: nets})()


def test_sweep_removes_only_this_hosts_dead_processes_leftovers() -> None:
    host = socket.gethostname()
    dead = FakeItem({containers.HOST_LABEL: host, containers.PID_LABEL: "999999999"})
    alive = FakeItem({containers.HOST_LABEL: host, containers.PID_LABEL: str(os.getpid())})
    elsewhere = FakeItem({containers.HOST_LABEL: host + "-other", containers.PID_LABEL: "1"})
    net = FakeItem({containers.HOST_LABEL: host, containers.PID_LABEL: "bad"}, with_kill=False)
    assert containers.sweep(FakeClient([dead, alive, elsewhere], [net])) == 2
    assert dead.removed and net.removed and not alive.removed and not elsewhere.removed


def test_labels_name_the_run_host_and_process() -> None:
    assert containers.labels("r1") == {containers.SMOKE_LABEL: "r1",
                                       containers.HOST_LABEL: socket.gethostname(),
                                       containers.PID_LABEL: str(os.getpid())}
