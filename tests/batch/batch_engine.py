"""Is there an engine with the local base image? (shared by tests/batch and tests/pipeline)"""

from __future__ import annotations

import os

BASE_IMAGE = os.environ.get("CARPENTER_BASE_IMAGE", "carpenter/bookworm-python:local")


def engine_problem() -> str | None:
    try:
        import docker

        client = docker.APIClient(version="auto", timeout=30)
        client.ping()
        client.inspect_image(BASE_IMAGE)
        client.close()
    except Exception as exc:
        return f"no engine or no {BASE_IMAGE} ({type(exc).__name__}: {exc}); run scripts/engine.sh"
    return None
