"""Fixtures for the batch tests: the three verdict submissions staged with their wheelhouse.

Engine tests skip without a reachable dockerd and the local base image, unless
CARPENTER_REQUIRE_ENGINE=1 (scripts/test.sh): then they fail, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "batch"
sys.path.insert(0, str(ROOT / "tests" / "rebuild"))
sys.path.insert(0, str(ROOT / "tests" / "batch"))

from batch_engine import engine_problem  # noqa: E402


@pytest.fixture(scope="session")
def engine() -> None:
    problem = engine_problem()
    if problem:
        if os.environ.get("CARPENTER_REQUIRE_ENGINE") == "1":
            pytest.fail(problem)
        pytest.skip(problem)


def stage_submissions(dest: Path) -> Path:
    """fixtures/batch copied to `dest`, the repairable one with its two-version wheelhouse."""
    from rebuild_wheelhouse import wheelhouse

    shutil.copytree(FIXTURES, dest, ignore=shutil.ignore_patterns("README.md"))
    repairable = dest / "repairable"
    house = repairable / "wheelhouse"
    house.mkdir()
    for n, pin in enumerate((repairable / "wheelhouse.txt").read_text().split()):
        pins = dest.parent / f"pin-{n}.txt"
        pins.write_text(pin + "\n")
        for wheel in wheelhouse(pins).glob("*.whl"):
            shutil.copy2(wheel, house / wheel.name)
    return dest


@pytest.fixture(scope="session")
def submissions(tmp_path_factory) -> Path:
    return stage_submissions(tmp_path_factory.mktemp("batch-input") / "submissions")
