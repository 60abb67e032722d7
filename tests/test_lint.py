"""Carpenter's own code is ruff clean and its Dockerfiles pass its own scan."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_clean() -> None:
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run(
        [str(ruff), "check", "--no-cache", str(ROOT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_lock_pins_every_dependency() -> None:
    lock = (ROOT / "requirements.lock").read_text()
    for line in lock.splitlines():
        if line and not line.startswith((" ", "#")):
            assert "==" in line, line
            assert line.rstrip().endswith("\\"), f"{line}: no hashes"
