"""The only Docker client in Carpenter: connect, inspect, run, sweep, and the label names.

`rebuild` (builds, pip freeze, pre-flight) and `smoke` (harness and server containers) both
talk to the engine through this module, so there is one timeout policy, one "no engine" error
and one place that knows the docker SDK (tests/architecture enforces that no other module
imports it). The SDK is imported inside each function: `carpenter --help` and a plain scan
never pay for it.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from carpenter.core.errors import EngineError, InputError

# One timeout policy: every API call gets this many seconds to answer (an engine busy committing
# a multi-GB layer can take over a minute to answer an inspect). Calls that legitimately wait
# longer pass their own limit: the build stream (the stall timeout), container.wait (the run's
# timeout), the pip-freeze wait.
API_TIMEOUT_S = 120

# Label names on everything Carpenter creates: the sweep finds leftovers by them.
SMOKE_LABEL = "org.carpenter.smoke"  # value: the run id
HOST_LABEL = "org.carpenter.smoke.host"  # the machine whose process created it
PID_LABEL = "org.carpenter.smoke.pid"  # that process; a dead pid makes the object a leftover
ROLE_LABEL = "org.carpenter.role"  # what a short-lived helper container is for (pip-freeze)

# The message dockerd returns when a GPU is requested and no runtime can provide one.
NO_GPU_DRIVER = "could not select device driver"


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(client_cls: Any = None, *, objects: bool = False) -> Any:
    """A client that has answered a ping; EngineError (exit 2) when no engine answers.

    The low-level `docker.APIClient` by default (builds, inspect), the object client
    `docker.DockerClient` with `objects=True` (containers, networks); `client_cls` is a
    subclass of either (the legacy builder watches its build response through one).
    """
    import docker
    from docker.errors import DockerException

    cls = client_cls or (docker.DockerClient if objects else docker.APIClient)
    try:
        client = cls(version="auto", timeout=API_TIMEOUT_S, **docker.utils.kwargs_from_env())
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


def sdk_errors() -> Any:
    """The SDK's exception module (`docker.errors`), for callers that catch its classes."""
    import docker.errors

    return docker.errors


def is_engine_failure(exc: BaseException) -> bool:
    """Whether `exc` is the engine failing or going away (SDK or HTTP transport error)."""
    import docker.errors
    import requests

    return isinstance(exc, docker.errors.DockerException | requests.RequestException)


def api_client_class() -> type:
    """`docker.APIClient`, for a subclass that hooks into requests (see rebuild.sdk_legacy)."""
    import docker

    return docker.APIClient


def context_tar(context: str, dockerfile: str, exclude: list[str] | None) -> tuple[Any, str]:
    """(tar file object, Dockerfile name inside it): the build context as the SDK sends it."""
    from docker import utils
    from docker.api.build import process_dockerfile

    processed = process_dockerfile(dockerfile, context)
    return utils.tar(context, exclude=exclude, dockerfile=processed), processed[0]


# -- inspect ---------------------------------------------------------------------------------

def image_id(client: Any, ref: str) -> str | None:
    """The id of local image `ref` (low-level client), None when absent or unknown."""
    from docker.errors import DockerException

    try:
        return client.inspect_image(ref)["Id"]
    except DockerException:
        return None
    except Exception:  # a connection error here is reported by the next real call
        return None


def get_image(client: Any, ref: str) -> Any:
    """The local image `ref` (object client); InputError when absent, EngineError on failure."""
    import docker

    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound as exc:
        raise InputError(f"no such image: {ref} (build it first, e.g. `carpenter rebuild`)",
                         path=ref) from exc
    except docker.errors.APIError as exc:
        raise EngineError(f"cannot inspect image {ref}: {exc.explanation or exc}") from exc


def container_exists(client: Any, cid: str) -> bool:
    from docker.errors import NotFound

    try:
        client.inspect_container(cid)
    except NotFound:
        return False
    except Exception:
        return True
    return True


# -- run -------------------------------------------------------------------------------------

def gpu_request(gpu: str) -> list:
    import docker

    if gpu == "none":
        return []
    return [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]


def create_and_start(client: Any, image: str, gpu: str, kwargs: dict[str, Any],
                     cpu_kwargs: dict[str, Any] | None = None,
                     hardening: dict[str, Any] | None = None) -> tuple[Any, str | None]:
    """Create and start a container, requesting GPUs unless gpu == "none".

    Returns (container, fallback): fallback says why a GPU request under `auto` fell back to CPU
    (the container is then re-created from `cpu_kwargs`). With gpu == "all" a missing GPU
    runtime is an EngineError (exit 2): the user required one. `hardening` (caps, limits) is
    added to both attempts.
    """
    import docker

    extra = hardening or {}
    requests = gpu_request(gpu)
    container = _create(client, image, device_requests=requests or None, **extra, **kwargs)
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
    container = _create(client, image, **extra, **(cpu_kwargs or kwargs))
    try:
        container.start()
    except docker.errors.APIError as exc:
        remove_quietly(container)
        raise EngineError(f"cannot start a container from {image}: "
                          f"{exc.explanation or exc}") from exc
    return container, fallback


def _create(client: Any, image: str, **kwargs: Any) -> Any:
    import docker

    try:
        return client.containers.create(image, detach=True, **kwargs)
    except docker.errors.APIError as exc:
        raise EngineError(f"cannot create a container from {image}: "
                          f"{exc.explanation or exc}") from exc


def has_gpu(container: Any) -> bool:
    return bool((container.attrs.get("HostConfig") or {}).get("DeviceRequests"))


# -- labels and sweep ------------------------------------------------------------------------

def labels(run_id: str) -> dict[str, str]:
    """The labels of a smoke container or network: this run, this host, this process."""
    return {SMOKE_LABEL: run_id, HOST_LABEL: socket.gethostname(), PID_LABEL: str(os.getpid())}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphaned(item_labels: dict[str, str]) -> bool:
    if item_labels.get(HOST_LABEL) != socket.gethostname():
        return False  # another machine's run on a shared engine: not ours to judge
    try:
        return not _pid_alive(int(item_labels.get(PID_LABEL, "0")))
    except ValueError:
        return True


def sweep(client: Any, label: str = SMOKE_LABEL) -> int:
    """Remove containers and networks carrying `label` whose creating process is gone
    (object client). Best effort: the run itself reports engine trouble."""
    removed = 0
    try:
        for container in client.containers.list(all=True, filters={"label": label}):
            if _orphaned(container.labels):
                remove_quietly(container)
                removed += 1
        for network in client.networks.list(filters={"label": label}):
            if _orphaned(network.attrs.get("Labels") or {}):
                remove_quietly(network)
                removed += 1
    except Exception:
        return removed
    return removed


def remove_quietly(obj: Any) -> None:
    try:
        if hasattr(obj, "kill"):
            obj.remove(force=True)
        else:
            obj.remove()
    except Exception:
        pass


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


def wait_gone(client: Any, container_ids: list[str], grace_s: float = 2.0) -> list[str]:
    """Give the daemon `grace_s` to remove cancelled build containers, then remove the rest
    (low-level client). Returns the ids Carpenter had to remove itself."""
    from docker.errors import NotFound

    remaining = list(container_ids)
    end = time.monotonic() + grace_s
    while remaining and time.monotonic() < end:
        remaining = [c for c in remaining if container_exists(client, c)]
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
