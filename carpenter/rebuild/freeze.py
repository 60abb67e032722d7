"""What the built image contains: `pip freeze` run by the image's own python, offline.

Image ids change on every uncached rebuild; the installed distributions are what to compare.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from carpenter.containers import ROLE_LABEL, sdk_errors
from carpenter.core.errors import InputError
from carpenter.core.files import write_atomic

FREEZE_TIMEOUT_S = 120
# The image's PATH decides which python (a venv on PATH wins, as it would at run time).
_SCRIPT = (
    "if command -v python >/dev/null 2>&1; then exec python -m pip freeze --all; "
    "else exec python3 -m pip freeze --all; fi"
)


def _cache_file(image_id: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "carpenter" / "pip-freeze" / (image_id.replace(":", "-") + ".json")


def cached_pip_freeze(client: Any, image_id: str) -> tuple[list[str] | None, str | None]:
    """pip_freeze, remembered per image id: an id is the digest of the image's config, which
    names every layer's content, so the same id means the same files. A fully cached rebuild
    then costs no container run."""
    cache = _cache_file(image_id)
    try:
        return json.loads(cache.read_text(encoding="utf-8")), None
    except (OSError, ValueError):
        pass
    lines, problem = pip_freeze(client, image_id)
    if lines is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(cache, json.dumps(lines))
        except (OSError, InputError):
            pass  # a cache is an optimisation only
    return lines, problem


def pip_freeze(client: Any, image: str) -> tuple[list[str] | None, str | None]:
    """(lines, None) or (None, why not)."""
    DockerException = sdk_errors().DockerException

    container = None
    try:
        container = client.create_container(
            image, command=[_SCRIPT], entrypoint=["/bin/sh", "-c"], network_disabled=True,
            labels={ROLE_LABEL: "pip-freeze"},
            host_config=client.create_host_config(
                network_mode="none", mem_limit="1g", memswap_limit="1g"
            ),
        )
        client.start(container)
        status = client.wait(container, timeout=FREEZE_TIMEOUT_S)
        out = client.logs(container, stdout=True, stderr=False).decode("utf-8", "replace")
        if status.get("StatusCode") != 0:
            err = client.logs(container, stdout=False, stderr=True).decode("utf-8", "replace")
            last = err.strip().splitlines()[-1:] or ["no output"]
            return None, f"pip freeze exited {status.get('StatusCode')}: {last[0][:200]}"
        return [ln for ln in out.splitlines() if ln.strip()], None
    except DockerException as exc:
        return None, f"pip freeze could not run: {str(exc).splitlines()[0][:200]}"
    except Exception as exc:  # /wait's timeout surfaces as a requests ConnectionError
        return None, f"pip freeze did not finish: {type(exc).__name__}"
    finally:
        if container is not None:
            with contextlib.suppress(Exception):
                client.remove_container(container, force=True)
