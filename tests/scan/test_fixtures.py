"""Scan every fixture submission and compare its findings with its expected.json.

Each `fixtures/submissions/<name>/` holds a Dockerfile, the build context it uses and
`expected.json`: {"description", "options": {"profile", "build_args", "context"},
"findings": [{"rule", "path", "line"}]} with paths relative to the fixture folder. The set
of (rule, path, line) must match exactly: a missing finding and an extra one both fail.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from carpenter.scan.config import ScanConfig, apply_settings, load_file_settings, load_profile
from carpenter.scan.engine import ScanOptions, scan_paths

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "submissions"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.json").is_file())


def fixture_config(folder: Path, options: dict) -> ScanConfig:
    config = ScanConfig()
    profile = options.get("profile")
    if profile:
        config = replace(apply_settings(config, load_profile(profile), profile), profile=profile)
    local = folder / ".carpenter.toml"
    if local.is_file():
        config = apply_settings(config, load_file_settings(local), str(local))
    return config


def scan_fixture(folder: Path) -> tuple[set[tuple[str, str, int]], dict, list]:
    expected = json.loads((folder / "expected.json").read_text())
    options = expected.get("options") or {}
    scan_options = ScanOptions(
        config=fixture_config(folder, options),
        context=options.get("context"),
        build_args=options.get("build_args") or {},
    )
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        dockerfile = options.get("dockerfile", "Dockerfile")
        report = scan_paths([dockerfile], scan_options)
    finally:
        os.chdir(cwd)
    found = {(f.rule, f.path, f.line) for f in report.findings}
    return found, expected, report.errors


def test_at_least_thirty_fixtures() -> None:
    assert len(NAMES) >= 30


@pytest.mark.parametrize("name", NAMES)
def test_fixture(name: str) -> None:
    folder = FIXTURES / name
    found, expected, errors = scan_fixture(folder)
    want = {(f["rule"], f["path"], f["line"]) for f in expected["findings"]}
    assert not errors, errors
    missing = sorted(want - found)
    extra = sorted(found - want)
    assert not missing and not extra, f"{name}: missing {missing}, unexpected {extra}"


def test_paths_follow_the_way_the_input_was_named() -> None:
    """Scanned from the repository root, every path (requirements files too) gains the prefix."""
    name = "requirements-nested"
    folder = FIXTURES / name
    inside, _, _ = scan_fixture(folder)
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        prefix = f"fixtures/submissions/{name}"
        report = scan_paths([f"{prefix}/Dockerfile"], ScanOptions())
    finally:
        os.chdir(cwd)
    outside = {(f.rule, f.path, f.line) for f in report.findings}
    assert outside == {(rule, f"{prefix}/{path}", line) for rule, path, line in inside}
    assert any(path.endswith("requirements/base.txt") for _, path, _ in outside)
