"""A manifest naming a git repository at a commit, with a submodule: batch clones exactly that
commit (and the submodule at the commit the superproject records) and scans it.

Real git and the real CLI; the repositories are served over file:// (no network)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
           "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", "-c", "protocol.file.allow=always", "-c",
                          "init.defaultBranch=main", *args], cwd=cwd,
                         env={**os.environ, **GIT_ENV}, check=True, capture_output=True,
                         text=True)
    return out.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repos(tmp_path: Path) -> dict[str, str]:
    lib, sub = tmp_path / "lib", tmp_path / "submission"
    for repo in (lib, sub):
        repo.mkdir()
        git(repo, "init", "-q")
    (lib / "VERSION").write_text("lib v1\n")
    commit_all(lib, "lib v1")
    (sub / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY lib/VERSION /opt/\n"
                                    "RUN pip install requests\n")
    git(sub, "submodule", "add", "-q", lib.as_uri(), "lib")
    wanted = commit_all(sub, "the submitted version")
    # Later history the manifest does not ask for: neither may reach the clone.
    (lib / "VERSION").write_text("lib v2\n")
    commit_all(lib, "lib v2")
    (sub / "Dockerfile").write_text("FROM python:3.11-slim\n")
    commit_all(sub, "after the deadline")
    return {"url": sub.as_uri(), "commit": wanted}


def run_batch(manifest: Path, out: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "carpenter.cli", "batch", str(manifest),
                           "--out", str(out), "--stages", "scan", "--jobs", "1"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **GIT_ENV, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_git_manifest_is_cloned_at_its_commit_with_the_submodule(tmp_path, repos, kind):
    manifest = tmp_path / f"manifest.{kind}"
    if kind == "csv":
        manifest.write_text(f"id,url,commit\nteam-a,{repos['url']},{repos['commit']}\n")
    else:
        manifest.write_text(json.dumps({"id": "team-a", "url": repos["url"],
                                        "commit": repos["commit"]}) + "\n")
    out = tmp_path / "out"
    run_batch(manifest, out)

    source = out / "work" / "team-a" / "source"
    assert (source / "lib" / "VERSION").read_text() == "lib v1\n"  # the recorded gitlink
    assert "pip install requests" in (source / "Dockerfile").read_text()
    with sqlite3.connect(out / "state.db") as db:
        stages = {stage: json.loads(result) for stage, result in db.execute(
            "SELECT stage, result FROM stages WHERE submission='team-a'")}
    assert stages["fetch"]["status"] == "fetched"
    assert stages["fetch"]["commit"] == repos["commit"]
    # The scan read the submitted Dockerfile: its unpinned pip install is a finding on line 3.
    assert stages["scan"]["status"] in ("failing", "clean")
    assert any(f["line"] == 3 for f in stages["scan"]["findings"])
