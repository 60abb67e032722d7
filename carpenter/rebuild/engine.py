"""The docker CLI, for BuildKit builds (the SDK cannot drive BuildKit). Every SDK call goes
through carpenter.containers."""

from __future__ import annotations

import os
import shutil
import subprocess


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
