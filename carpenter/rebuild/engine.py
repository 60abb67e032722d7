"""Finding the Docker engine and small queries on it (shared by both backends and pre-flight)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Any

from carpenter.core.errors import EngineError

API_TIMEOUT_S = 60


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(client_cls: Any = None) -> Any:
    """A low-level client that has answered a ping; EngineError (exit 2) when none answers."""
    import docker
    from docker.errors import DockerException

    cls = client_cls or docker.APIClient
    try:
        kwargs = docker.utils.kwargs_from_env()
        client = cls(version="auto", timeout=API_TIMEOUT_S, **kwargs)
        client.ping()
    except (DockerException, OSError) as exc:
        raise EngineError(
            f"no Docker engine reachable at {engine_address()} ({_short(exc)}); "
            "start dockerd (scripts/engine.sh does it) or set DOCKER_HOST"
        ) from exc
    except Exception as exc:  # requests' connection errors are not DockerException
        raise EngineError(
            f"no Docker engine reachable at {engine_address()} ({_short(exc)})"
        ) from exc
    return client


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def image_id(client: Any, ref: str) -> str | None:
    from docker.errors import DockerException

    try:
        return client.inspect_image(ref)["Id"]
    except DockerException:
        return None
    except Exception:  # a connection error here is reported by the next real call
        return None


def untag_if_changed(client: Any, tag: str, before: str | None) -> bool:
    """Remove `tag` when a cancelled/failed build moved it; returns whether it did."""
    after = image_id(client, tag)
    if after is None or after == before:
        return False
    try:
        client.remove_image(tag, noprune=False)
    except Exception:
        return False
    return True


def docker_cli() -> str | None:
    """The CLI for BuildKit builds: CARPENTER_DOCKER_CLI, else Debian's /usr/bin/docker (a newer
    CLI earlier on PATH may lack buildx and then refuses DOCKER_BUILDKIT=1), else PATH."""
    override = os.environ.get("CARPENTER_DOCKER_CLI")
    if override:
        return override if shutil.which(override) else None
    if os.access("/usr/bin/docker", os.X_OK):
        return "/usr/bin/docker"
    return shutil.which("docker")


def cli_output(argv: list[str], timeout: float = 15) -> tuple[int, str]:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False,
            env={**os.environ, "DOCKER_CLI_HINTS": "false"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


def wait_gone(client: Any, container_ids: list[str], grace_s: float = 2.0) -> list[str]:
    """Give the daemon `grace_s` to remove cancelled build containers, then remove the rest.
    Returns the ids Carpenter had to remove itself."""
    from docker.errors import NotFound

    remaining = list(container_ids)
    end = time.monotonic() + grace_s
    while remaining and time.monotonic() < end:
        remaining = [c for c in remaining if _exists(client, c)]
        if remaining:
            time.sleep(0.1)
    swept = []
    for cid in remaining:
        try:
            client.remove_container(cid, force=True)
            swept.append(cid)
        except NotFound:
            pass
        except Exception:
            swept.append(cid + " (removal failed)")
    return swept


def _exists(client: Any, cid: str) -> bool:
    from docker.errors import NotFound

    try:
        client.inspect_container(cid)
    except NotFound:
        return False
    except Exception:
        return True
    return True
