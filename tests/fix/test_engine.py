"""The repaired Dockerfile really builds on the engine, and the secret stays out of the image."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from .helpers import SECRET

BASE_IMAGE = "carpenter/bookworm-python:local"  # built by scripts/engine.sh
DOCKER = "/usr/bin/docker"  # the engine's own CLI (BuildKit); see docs/architecture.md

pytestmark = pytest.mark.engine


def _problem() -> str | None:
    try:
        done = subprocess.run([DOCKER, "image", "inspect", BASE_IMAGE], capture_output=True,
                              text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"no docker CLI: {exc}"
    return None if done.returncode == 0 else f"no engine or no {BASE_IMAGE}: {done.stderr}"


@pytest.fixture()
def tag():
    problem = _problem()
    if problem:
        if os.environ.get("CARPENTER_REQUIRE_ENGINE") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    name = f"carpenter-test/fix:{uuid.uuid4().hex[:12]}"
    yield name
    subprocess.run([DOCKER, "rmi", "-f", name], capture_output=True, check=False)


def _build(folder: Path, tag: str, token: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    env.pop("HF_TOKEN", None)
    args = [DOCKER, "build", "--no-cache", "-t", tag, str(folder)]  # secrets are not cache keys
    if token is not None:
        env["HF_TOKEN"] = token
        args[3:3] = ["--secret", "id=hf_token,env=HF_TOKEN"]
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)


def test_secret_fix_builds_with_a_secret_mount_and_leaves_no_trace(tmp_path, tag):
    (tmp_path / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\nENV HF_TOKEN={SECRET}\n"
        "RUN python3 -c \"import os, sys; "
        "sys.exit(0 if os.environ.get('HF_TOKEN', '').startswith('hf_') else 3)\"\n")
    done = subprocess.run([sys.executable, "-m", "carpenter.cli", "fix", str(tmp_path),
                           "--write"], capture_output=True, text=True, timeout=120)
    assert "--secret id=hf_token,env=HF_TOKEN" in done.stderr
    assert SECRET not in (tmp_path / "Dockerfile").read_text()
    # Without the secret the step fails: the value really comes from the mount.
    assert _build(tmp_path, tag, None).returncode != 0
    built = _build(tmp_path, tag, SECRET)
    assert built.returncode == 0, built.stdout + built.stderr
    history = subprocess.run([DOCKER, "history", "--no-trunc", tag], capture_output=True,
                             text=True, check=True).stdout
    config = subprocess.run([DOCKER, "image", "inspect", tag], capture_output=True, text=True,
                            check=True).stdout
    assert SECRET not in history and SECRET not in config


def test_apt_snapshot_line_rewrites_the_real_base_image_sources(tmp_path, tag):
    """The dated archive itself is unreachable here, so the check stops before apt-get update:
    the inserted line must run in a real bookworm image and point every source at it."""
    (tmp_path / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\nRUN apt-get update && apt-get install -y --no-install-recommends "
        "curl\n")
    done = subprocess.run([sys.executable, "-m", "carpenter.cli", "fix", str(tmp_path),
                           "--write"], capture_output=True, text=True, timeout=120)
    lines = (tmp_path / "Dockerfile").read_text().splitlines()
    inserted = [line for line in lines if "99snapshot" in line]
    assert len(inserted) == 1, done.stderr
    (tmp_path / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\n{inserted[0]}\n"
        "RUN ! grep -rhE '^[^#]*(deb\\.debian\\.org|security\\.debian\\.org)' /etc/apt/ "
        "&& grep -rq 'snapshot.debian.org/archive/debian/20231025T000000Z' /etc/apt/ "
        "&& grep -q 'Check-Valid-Until \"false\"' /etc/apt/apt.conf.d/99snapshot\n")
    built = _build(tmp_path, tag, None)
    assert built.returncode == 0, built.stdout + built.stderr
