"""The Action's autofix, end to end on a temporary git repository with a PR-like diff:
`carpenter fix --format json` -> github_action/suggest.py -> a review payload the REST API
accepts (validated against github_action/review-payload.schema.json), a summary, an artifact.
Secrets never reach any of them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parent.parent
SUGGEST = ROOT / "github_action" / "suggest.py"
SCHEMA = json.loads((ROOT / "github_action" / "review-payload.schema.json").read_text())
TOKEN = "hf_" + "Zq8rT2vX9wLmN4pK7sB1cD5fG3hJ6kQ0aE"
BASE = "FROM python:3.11-slim@sha256:" + "a" * 64 + "\nRUN echo base\n"
HEAD = (BASE + f"ENV HF_TOKEN={TOKEN}\n"
        "RUN pip install torch transformers\n")
UNTOUCHED = "FROM python:3.11\nRUN pip install numpy\n"  # fixable, but not in the PR


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture()
def pr(tmp_path: Path) -> tuple[Path, str, str]:
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "app" / "Dockerfile").write_text(BASE)
    (repo / "other.Dockerfile").write_text(UNTOUCHED)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-qb", "pr")
    (repo / "app" / "Dockerfile").write_text(HEAD)
    git(repo, "commit", "-qam", "add torch")
    return repo, base, git(repo, "rev-parse", "HEAD")


def run_autofix(repo: Path, base: str, sha: str, *extra: str) -> tuple[dict | None, str, Path]:
    fix = subprocess.run([sys.executable, "-c", "from carpenter.cli import main; main()", "fix",
                          ".", "--format", "json", "--offline"], cwd=repo, capture_output=True,
                         text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                         "HOME": str(repo.parent), "CARPENTER_OFFLINE": "1"})
    assert fix.returncode in (0, 1), fix.stderr
    out = repo.parent / "out"
    out.mkdir(exist_ok=True)
    (out / "fix.json").write_text(fix.stdout)
    done = subprocess.run(
        [sys.executable, str(SUGGEST), "--fix-json", str(out / "fix.json"), "--base", base,
         "--sha", sha, "--repo", str(repo), "--review", str(out / "review.json"),
         "--summary", str(out / "summary.md"), "--artifact", str(out / "artifact"), *extra],
        capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    review = out / "review.json"
    return (json.loads(review.read_text()) if review.exists() else None,
            (out / "summary.md").read_text(), out / "artifact")


def everything(folder: Path) -> str:
    return "".join(p.read_text() for p in folder.rglob("*") if p.is_file())


def test_review_payload_suggests_on_changed_lines_only(pr) -> None:
    repo, base, sha = pr
    review, summary, artifact = run_autofix(repo, base, sha)
    assert review is not None
    jsonschema.validate(review, SCHEMA)
    assert review["commit_id"] == sha and review["event"] == "COMMENT"
    comments = review["comments"]
    assert {c["path"] for c in comments} == {"app/Dockerfile"}  # other.Dockerfile: not in PR
    # The token's line (3) is deleted and line 4 pinned: one suggestion over lines 3-4,
    # marked unsafe (it changes what the build sees), whose new text has no ENV line.
    [pin] = comments
    assert (pin["start_line"], pin["line"], pin["side"]) == (3, 4, "RIGHT")
    # The closure lock is COPYed and set as PIP_CONSTRAINT right before the first pip install.
    assert "```suggestion\n" in pin["body"] and "ENV HF_TOKEN" not in pin["body"]
    assert pin["body"].endswith("\nRUN pip install torch==2.1.0 transformers==4.34.1\n```")
    assert "PIP_CONSTRAINT=" in pin["body"]
    assert "carpenter-constraints.txt" in review["body"]  # a file a suggestion cannot add
    assert "SEC001" in pin["body"] and "unsafe" in pin["body"]
    assert "1 more fix(es)" in review["body"]  # the untouched file's pin
    assert "rotate it now" in summary and "```diff" in summary
    for text in (json.dumps(review), summary, everything(artifact)):
        assert TOKEN not in text


def test_artifact_holds_the_patch_and_the_repaired_files(pr) -> None:
    repo, base, sha = pr
    _, _, artifact = run_autofix(repo, base, sha)
    fixed = (artifact / "fixed" / "app" / "Dockerfile").read_text()
    assert "HF_TOKEN=" not in fixed and "torch==" in fixed and fixed.startswith("FROM python")
    assert (artifact / "fixed" / "other.Dockerfile").read_text().count("numpy==") == 1
    assert (artifact / "carpenter-fix.patch").read_text().startswith("--- a/")


def test_fork_pull_requests_get_summary_and_artifact_only(pr) -> None:
    repo, base, sha = pr
    review, summary, artifact = run_autofix(repo, base, sha, "--fork")
    assert review is None
    assert "fork" in summary and (artifact / "carpenter-fix.patch").is_file()


def test_schema_rejects_what_the_api_would() -> None:
    good = {"event": "COMMENT", "comments": [{"path": "a/Dockerfile", "line": 1, "body": "x"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(good, SCHEMA)  # "a/" prefix: a diff name, not a repository path
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"event": "COMMENT", "comments": [
            {"path": "Dockerfile", "line": 2, "start_line": 1, "body": "x"}]}, SCHEMA)
