"""Container plumbing shared by the harness run and the server check.

Every container and network Carpenter creates carries labels naming this host and process, is
removed explicitly (never via `remove=True`: a container whose start fails stays Created), and
leftovers of dead processes are swept at the next run.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from carpenter.core.errors import EngineError, InputError

LABEL = "org.carpenter.smoke"
LABEL_HOST = "org.carpenter.smoke.host"
LABEL_PID = "org.carpenter.smoke.pid"
# The message dockerd returns when a GPU is requested and no runtime can provide one.
NO_GPU_DRIVER = "could not select device driver"
# Caps of every smoke container (the harness peaks near 400 MB on CPU).
HARDENING: dict[str, Any] = {
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "pids_limit": 1024,
    "shm_size": "1g",  # PyTorch outgrows Docker's 64 MB default /dev/shm
}


def labels(run_id: str) -> dict[str, str]:
    return {LABEL: run_id, LABEL_HOST: socket.gethostname(), LABEL_PID: str(os.getpid())}


def connect(timeout: int = 120):
    """A docker client that answered a ping, or EngineError (exit 2)."""
    import docker

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # DockerException, requests errors, bad DOCKER_HOST...
        raise EngineError(f"no Docker engine reachable: {exc}") from exc
    return client


def get_image(client, ref: str):
    import docker

    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound as exc:
        raise InputError(f"no such image: {ref} (build it first, e.g. `carpenter rebuild`)",
                         path=ref) from exc
    except docker.errors.APIError as exc:
        raise EngineError(f"cannot inspect image {ref}: {exc.explanation or exc}") from exc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphaned(item_labels: dict[str, str]) -> bool:
    if item_labels.get(LABEL_HOST) != socket.gethostname():
        return False  # another machine's run on a shared engine: not ours to judge
    try:
        return not _pid_alive(int(item_labels.get(LABEL_PID, "0")))
    except ValueError:
        return True


def sweep(client) -> int:
    """Remove smoke containers and networks left by processes that no longer exist."""
    removed = 0
    try:
        for container in client.containers.list(all=True, filters={"label": LABEL}):
            if _orphaned(container.labels):
                remove_quietly(container)
                removed += 1
        for network in client.networks.list(filters={"label": LABEL}):
            if _orphaned(network.attrs.get("Labels") or {}):
                remove_quietly(network)
                removed += 1
    except Exception:  # sweeping is best effort; the run itself reports engine trouble
        return removed
    return removed


def remove_quietly(obj) -> None:
    try:
        if hasattr(obj, "kill"):
            obj.remove(force=True)
        else:
            obj.remove()
    except Exception:
        pass


def gpu_request(gpu: str) -> list:
    import docker

    if gpu == "none":
        return []
    return [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]


def create_and_start(client, image: str, gpu: str, kwargs: dict[str, Any],
                     cpu_kwargs: dict[str, Any] | None = None):
    """Create and start a container, requesting GPUs unless gpu == "none".

    Returns (container, fallback): fallback says why a GPU request under `auto` fell back to CPU
    (the container is then re-created from `cpu_kwargs`). With gpu == "all" a missing GPU
    runtime is an EngineError (exit 2): the user required one.
    """
    import docker

    requests = gpu_request(gpu)
    container = _create(client, image, device_requests=requests or None, **kwargs)
    try:
        container.start()
        return container, None
    except docker.errors.APIError as exc:
        remove_quietly(container)
        message = str(exc.explanation or exc)
        if not requests or NO_GPU_DRIVER not in message:
            raise EngineError(f"cannot start a container from {image}: {message}") from exc
        if gpu == "all":
            raise EngineError(f"--gpu all, but the engine cannot provide GPUs: {message}") from exc
    fallback = f"GPU requested but unavailable, ran on CPU ({message.strip()})"
    container = _create(client, image, **(cpu_kwargs or kwargs))
    try:
        container.start()
    except docker.errors.APIError as exc:
        remove_quietly(container)
        raise EngineError(f"cannot start a container from {image}: "
                          f"{exc.explanation or exc}") from exc
    return container, fallback


def _create(client, image: str, **kwargs):
    import docker

    try:
        return client.containers.create(image, detach=True, **HARDENING, **kwargs)
    except docker.errors.APIError as exc:
        raise EngineError(f"cannot create a container from {image}: "
                          f"{exc.explanation or exc}") from exc


def has_gpu(container) -> bool:
    return bool((container.attrs.get("HostConfig") or {}).get("DeviceRequests"))
