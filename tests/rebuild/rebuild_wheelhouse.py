"""A tiny offline wheelhouse for the rebuild fixtures, downloaded once and cached by content.

Isolated from this machine's pip configuration (find-links, extra indexes, constraints) so the
wheels come from the index the requirements name; PIP_CERT is kept for TLS-intercepting proxies.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_DROP = ("PIP_FIND_LINKS", "PIP_CONSTRAINT", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL",
         "PIP_NO_INDEX", "PIP_REQUIRE_VIRTUALENV")
# The base image's CPython 3.11 on glibc 2.36: pip 23 does not expand manylinux_2_X to the
# older tags by itself, so every tag a wheel may carry is listed.
TARGET = ["--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", "--abi", "abi3",
          "--abi", "none",
          *[arg for tag in [f"manylinux_2_{minor}_x86_64" for minor in range(5, 37)]
            + ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64", "any"]
            for arg in ("--platform", tag)]]


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "carpenter"


def wheelhouse(requirements: Path) -> Path:
    """Folder holding wheels for `requirements` (exact pins), created on first use."""
    text = requirements.read_text(encoding="utf-8")
    key = hashlib.sha256(f"{sys.version_info[:2]}\n{text}".encode()).hexdigest()[:16]
    target = cache_root() / f"wheelhouse-{key}"
    if target.is_dir() and any(target.glob("*.whl")):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env["PIP_CONFIG_FILE"] = os.devnull
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps",
             "--disable-pip-version-check", "-r", str(requirements), "-d", tmp],
            check=True, env=env, capture_output=True, timeout=300,
        )
        staged = Path(tmp) / "done"
        staged.mkdir()
        for wheel in Path(tmp).glob("*.whl"):
            shutil.move(str(wheel), staged / wheel.name)
        try:
            staged.rename(target)  # atomic: a half-downloaded folder never looks complete
        except OSError:
            if not target.is_dir():
                raise
    return target


def pinned_wheels(pins: dict[str, str]) -> Path:
    """Folder of wheels for exact `pins` on the base image's Python (no dependencies followed:
    the pins are a whole closure), downloaded once and cached by content."""
    text = "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))
    key = hashlib.sha256((" ".join(TARGET) + "\n" + text).encode()).hexdigest()[:16]
    target = cache_root() / f"pinned-wheels-{key}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env["PIP_CONFIG_FILE"] = os.devnull
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staged = Path(tmp) / "done"
        (Path(tmp) / "pins.txt").write_text(text)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps",
             "--disable-pip-version-check", *TARGET, "-r", str(Path(tmp) / "pins.txt"),
             "-d", str(staged)],
            check=True, env=env, capture_output=True, timeout=600,
        )
        try:
            staged.rename(target)  # atomic: a half-downloaded folder never looks complete
        except OSError:
            if not target.is_dir():
                raise
    return target


def stage_fixture(fixture: Path, dest: Path) -> Path:
    """Copy a fixture folder and, when it has requirements.txt, its wheelhouse into `dest`."""
    shutil.copytree(fixture, dest, ignore=shutil.ignore_patterns("*.whl"))
    requirements = dest / "requirements.txt"
    if requirements.is_file():
        house = dest / "wheelhouse"
        house.mkdir(exist_ok=True)
        for wheel in wheelhouse(requirements).glob("*.whl"):
            shutil.copy2(wheel, house / wheel.name)
    return dest
