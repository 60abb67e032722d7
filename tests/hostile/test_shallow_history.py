"""A shallow clone no longer silently disables the history check (SEC004)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from carpenter.model.context import clear_caches
from carpenter.model.history import clear_cache
from carpenter.scan.config import ScanConfig
from carpenter.scan.engine import ScanOptions, scan_paths


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                    "-c", "commit.gpgsign=false", "-c", "protocol.file.allow=always", *args],
                   cwd=cwd, check=True, capture_output=True)


def _sec004(dockerfile: Path) -> list:
    clear_caches()
    clear_cache()
    report = scan_paths([str(dockerfile)], ScanOptions(config=ScanConfig(select=("SEC004",))))
    return [f for f in report.findings if f.rule == "SEC004"]


def test_shallow_clone_says_history_was_not_fully_checked(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    (origin / "old.py").write_text('TOKEN = "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"\n')
    (origin / "Dockerfile").write_text("FROM scratch\nCOPY . /app\n")
    _git(origin, "init", "-q")
    _git(origin, "add", ".")
    _git(origin, "commit", "-qm", "token")
    (origin / "old.py").write_text("TOKEN = None\n")
    _git(origin, "commit", "-qam", "drop it")
    full = _sec004(origin / "Dockerfile")
    assert [f.severity for f in full] == ["error"]  # the deleted token, no caveat
    _git(tmp_path, "clone", "-q", "--depth", "1", f"file://{origin}", "shallow")
    shallow = _sec004(tmp_path / "shallow" / "Dockerfile")
    assert len(shallow) == 1
    assert shallow[0].severity == "info" and "not fully checked" in shallow[0].message
    assert "shallow clone" in shallow[0].message and shallow[0].line == 1


def test_a_linked_worktree_has_its_history_checked(tmp_path: Path) -> None:
    # `git worktree add`: HEAD is in .git/worktrees/<name>, the branch it names and
    # packed-refs in the common .git. The history stamp read only the former, took the
    # branch for an unborn one, and SEC004 silently checked nothing.
    origin = tmp_path / "origin"
    origin.mkdir()
    (origin / "old.py").write_text('TOKEN = "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"\n')
    (origin / "Dockerfile").write_text("FROM scratch\nCOPY . /app\n")
    _git(origin, "init", "-q")
    _git(origin, "add", ".")
    _git(origin, "commit", "-qm", "token")
    (origin / "old.py").write_text("TOKEN = None\n")
    _git(origin, "commit", "-qam", "drop it")
    _git(origin, "worktree", "add", "-q", "-b", "submission", str(tmp_path / "linked"))
    found = _sec004(tmp_path / "linked" / "Dockerfile")
    assert [f.severity for f in found] == ["error"]
    _git(origin, "pack-refs", "--all")  # the branch now only in the common packed-refs
    assert [f.severity for f in _sec004(tmp_path / "linked" / "Dockerfile")] == ["error"]
