"""Helpers for build-context tests: real git repositories created in tmp_path."""

from __future__ import annotations

import os
import random
import string
import subprocess
from pathlib import Path

import pytest

from carpenter.model.context import clear_caches
from carpenter.model.history import clear_cache as clear_history_cache
from carpenter.scan.engine import ScanOptions, scan_paths


@pytest.fixture(autouse=True)
def fresh_caches():
    clear_caches()
    clear_history_cache()
    yield
    clear_caches()
    clear_history_cache()


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
           "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd)}
    done = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c",
                           "protocol.file.allow=always", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def fake_token(seed: int, prefix: str = "hf_", length: int = 34) -> str:
    rng = random.Random(seed)
    return prefix + "".join(rng.choice(string.ascii_letters) for _ in range(length))


def scan(dockerfile: Path, **options) -> list:
    report = scan_paths([str(dockerfile)], ScanOptions(**options))
    assert not report.errors, report.errors
    return report.findings


def rules_at(findings) -> set[tuple[str, str, int]]:
    return {(f.rule, os.path.basename(f.path), f.line) for f in findings}
