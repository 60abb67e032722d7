"""Engine fixtures for the rebuild tests.

Engine tests need a reachable dockerd and the local base image from scripts/engine.sh. Without
them they skip, unless CARPENTER_REQUIRE_ENGINE=1 (set by scripts/test.sh): then they fail, so
CI can never pass by skipping.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rebuild_helpers import BASE_IMAGE, FIXTURES
from rebuild_wheelhouse import stage_fixture


def _engine_problem() -> str | None:
    try:
        import docker

        client = docker.APIClient(version="auto", timeout=30)
        client.ping()
        client.inspect_image(BASE_IMAGE)
        client.close()
    except Exception as exc:
        return f"no engine or no {BASE_IMAGE} ({type(exc).__name__}: {exc}); run scripts/engine.sh"
    return None


@pytest.fixture(scope="session")
def engine() -> Iterator[object]:
    problem = _engine_problem()
    if problem:
        if os.environ.get("CARPENTER_REQUIRE_ENGINE") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    import docker

    client = docker.APIClient(version="auto", timeout=60)
    yield client
    client.close()


@pytest.fixture()
def image_tag(engine) -> Iterator[str]:
    """A unique tag; the image is removed after the test."""
    tag = f"carpenter-test/rebuild:{uuid.uuid4().hex[:12]}"
    yield tag
    for suffix in ("", "-fixed"):
        with contextlib.suppress(Exception):
            engine.remove_image(tag + suffix, force=True)


@pytest.fixture()
def fixture_dir(tmp_path: Path):
    """Copy a fixture (with its wheelhouse) to a private folder."""

    def make(name: str) -> Path:
        return stage_fixture(FIXTURES / name, tmp_path / name)

    return make
