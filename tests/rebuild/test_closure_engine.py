"""Issue 11 end to end on the real engine: unpinned requirements that resolve to a newer stack
today are fixed (uv at the cut-off, no mocked resolver), built, and the image holds exactly
the lock, every version uploaded before the cut-off."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rebuild_helpers import BASE_IMAGE

from carpenter.fix.engine import FixOptions, fix_paths
from carpenter.fix.output import write_in_place
from carpenter.rebuild.interface import BuildRequest
from carpenter.rebuild.rebuild import rebuild
from carpenter.snapshot.create import find_uv, isolated_env, parse_pins
from carpenter.snapshot.model import load_snapshot
from carpenter.snapshot.pypi import first_uploads

PYPI = "https://pypi.org/simple"
CUTOFF = datetime(2023, 10, 26, tzinfo=UTC)


def _pypi() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


pytestmark = [pytest.mark.engine,
              pytest.mark.skipif(not _pypi(), reason="resolving at the cut-off needs PyPI")]

# The venv, PIP_NO_INDEX and the wheelhouse are the test's offline harness (the build runs
# with --network none); the submission's own part is the unpinned requirements file.
DOCKERFILE = f"""FROM {BASE_IMAGE}
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels PIP_DISABLE_PIP_VERSION_CHECK=1
COPY wheelhouse/ /wheels/
COPY requirements.txt .
RUN pip install -r requirements.txt && python -c "import fastapi, requests"
"""
REQUIREMENTS = "fastapi>=0.68.0,<0.69.0\nrequests\n"


def _today(requirements: Path) -> dict[str, str]:
    """What the same lines resolve to without a cut-off (Python 3.11, as the base)."""
    done = subprocess.run([find_uv(), "pip", "compile", str(requirements), "--no-config",
                           "--index-url", PYPI, "--python-version", "3.11", "--no-header",
                           "--no-annotate", "--quiet"], env=isolated_env(), capture_output=True,
                          text=True, timeout=300, check=True, cwd=requirements.parent)
    return parse_pins(done.stdout)


def _download(pins: dict[str, str], dest: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k == "PIP_CERT"}
    env["PIP_CONFIG_FILE"] = os.devnull
    subprocess.run([sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps",
                    "--python-version", "3.11", "--platform", "manylinux2014_x86_64",
                    "--platform", "manylinux_2_28_x86_64", "--implementation", "cp",
                    "--disable-pip-version-check", "-d", str(dest),
                    *[f"{n}=={v}" for n, v in pins.items()]],
                   check=True, env=env, capture_output=True, timeout=300)


def test_fixed_submission_builds_exactly_its_closure_of_the_cutoff(engine, image_tag, tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "Dockerfile").write_text(DOCKERFILE)
    (sub / "requirements.txt").write_text(REQUIREMENTS)
    today = _today(sub / "requirements.txt")

    report = fix_paths([str(sub)], FixOptions(load_snapshot(), online=True))
    write_in_place(report.files)
    lock = parse_pins((sub / "carpenter-constraints.txt").read_text())
    assert "resolved by uv" in (sub / "carpenter-constraints.txt").read_text()
    assert (sub / "requirements.txt").read_text() == (
        f"fastapi=={lock['fastapi']}\nrequests=={lock['requests']}\n")
    assert lock["fastapi"] == "0.68.2" and lock["starlette"] == "0.14.2"
    # installed today, the transitive set is another one (newer pydantic, urllib3, ...)
    drift = {n for n in lock if today.get(n) != lock[n]}
    assert {"pydantic", "urllib3"} <= drift, (today, lock)

    # The wheelhouse offers both stacks: only the lock decides which one is installed.
    (sub / "wheelhouse").mkdir()
    _download(lock, sub / "wheelhouse")
    _download({n: v for n, v in today.items() if n in drift}, sub / "wheelhouse")
    result = rebuild(BuildRequest(context=sub, dockerfile=sub / "Dockerfile", tag=image_tag,
                                  network="none", no_cache=True), tmp_path / "build.log")
    assert result.status == "built", Path(result.log_path).read_text()[-3000:]
    frozen = parse_pins("\n".join(result.pip_freeze or []))
    frozen = {n: v for n, v in frozen.items() if n not in ("pip", "setuptools", "wheel")}
    assert frozen == lock
    uploaded = first_uploads(frozen, PYPI)
    assert all(t is not None and t < CUTOFF for t in uploaded.values()), uploaded
