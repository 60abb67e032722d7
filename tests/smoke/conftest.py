"""Session fixtures for the smoke engine tests: a docker client and lazily built test images."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from smoke_images import BASE_IMAGE, ensure_image


def _unavailable(reason: str) -> None:
    # In CI the engine and base image are set up by scripts/test.sh: their absence is a failure.
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client():
    import docker

    try:
        client = docker.from_env(timeout=900)
        client.ping()
    except Exception as exc:
        _unavailable(f"no Docker engine: {exc}")
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        _unavailable(f"base image {BASE_IMAGE} missing (run scripts/engine.sh)")
    return client


@pytest.fixture(scope="session")
def smoke_image(docker_client) -> Callable[[str], str]:
    """smoke_image("current") -> tag, built once per content hash (reused across runs)."""
    built: dict[str, str] = {}

    def get(name: str) -> str:
        if name not in built:
            built[name] = ensure_image(docker_client, name)
        return built[name]

    return get
