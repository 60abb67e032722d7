"""The smoke's container policy on top of carpenter.containers (the only Docker client).

Every container and network the smoke creates carries carpenter.containers.labels (this host
and process), is removed explicitly (never via `remove=True`: a container whose start fails
stays Created), and leftovers of dead processes are swept at the next run.
"""

from __future__ import annotations

from typing import Any

from carpenter import containers

# Caps of every smoke container (the harness peaks near 400 MB on CPU).
HARDENING: dict[str, Any] = {
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "pids_limit": 1024,
    "shm_size": "1g",  # PyTorch outgrows Docker's 64 MB default /dev/shm
}


def create_and_start(client: Any, image: str, gpu: str, kwargs: dict[str, Any],
                     cpu_kwargs: dict[str, Any] | None = None) -> tuple[Any, str | None]:
    """containers.create_and_start with the smoke's hardening (see there for the GPU policy)."""
    return containers.create_and_start(client, image, gpu, kwargs, cpu_kwargs,
                                       hardening=HARDENING)
