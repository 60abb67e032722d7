"""Shared real servers for the look-up tests (started once per session)."""

from __future__ import annotations

import os
import subprocess

import pytest

from .servers import BASE_IMAGE, need, registry_server


def docker_cli(*args: str) -> str:
    need("docker")
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


@pytest.fixture(scope="session")
def pushed(tmp_path_factory: pytest.TempPathFactory):
    """A registry with the local base image pushed as ml/base:2.1.0; yields (port, digest)."""
    need("docker")
    try:
        docker_cli("image", "inspect", BASE_IMAGE)
    except AssertionError:
        if os.environ.get("CARPENTER_REQUIRE_ENGINE") == "1":
            pytest.fail(f"no {BASE_IMAGE}; run scripts/engine.sh")
        pytest.skip(f"no {BASE_IMAGE}; run scripts/engine.sh")
    with registry_server(tmp_path_factory.mktemp("registry")) as port:
        ref = f"localhost:{port}/ml/base:2.1.0"
        docker_cli("tag", BASE_IMAGE, ref)
        try:
            out = docker_cli("push", ref)
            # The engine prints "2.1.0: digest: sha256:... size: N" after a push.
            digest = next(w for w in out.split() if w.startswith("sha256:"))
            yield port, digest
        finally:
            subprocess.run(["docker", "image", "rm", ref], capture_output=True, timeout=60)
