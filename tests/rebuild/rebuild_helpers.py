"""Shared paths and the CLI runner for the rebuild tests (a uniquely named module: several test
folders have a conftest.py, so tests must not import from `conftest`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "rebuild"
BASE_IMAGE = "carpenter/bookworm-python:local"


def carpenter(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the CLI as a user would (-P: the working folder cannot shadow the package)."""
    return subprocess.run(
        [sys.executable, "-P", "-m", "carpenter.cli", *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=600, check=False,
    )
