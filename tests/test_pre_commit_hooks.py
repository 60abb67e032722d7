"""`.pre-commit-hooks.yaml` run by a real pre-commit against a temporary repository.

pre-commit clones the hook repository (this checkout, as a git repository of its working
tree) and pip-installs it into its own venv: that needs PyPI or a wheelhouse
(PIP_FIND_LINKS). The test is skipped where pre-commit is not installed (the `dev` extra
has it) or CARPENTER_SKIP_PRE_COMMIT=1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PRE_COMMIT = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())


def test_hooks_are_declared() -> None:
    import re

    ids = {hook["id"]: hook for hook in HOOKS}
    assert set(ids) == {"carpenter-scan", "carpenter-fix"}
    for hook in ids.values():
        assert hook["language"] == "python"
        pattern = re.compile(hook["files"])
        for name in ("Dockerfile", "app/Dockerfile.gpu", "x/train.Dockerfile",
                     "Containerfile", "Dockerfile2"):
            assert pattern.search(name), (hook["id"], name)
        for name in ("docs/dockerfiles.txt", "src/main.py", "Dockerfiles/README"):
            assert not pattern.search(name), (hook["id"], name)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                   check=True, capture_output=True)


@pytest.mark.skipif(PRE_COMMIT is None or os.environ.get("CARPENTER_SKIP_PRE_COMMIT") == "1",
                    reason="pre-commit not installed (pip install -e .[dev])")
def test_hooks_run_with_pre_commit(tmp_path: Path) -> None:
    hook_repo = tmp_path / "hooks"
    # A git repository of the working tree as it is (uncommitted edits included).
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (hook_repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, hook_repo / name)
    git(hook_repo, "init", "-q")
    git(hook_repo, "add", "-A")
    git(hook_repo, "commit", "-qm", "hooks")
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hook_repo, capture_output=True,
                         text=True, check=True).stdout.strip()
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q")
    (work / ".pre-commit-config.yaml").write_text(yaml.safe_dump({"repos": [{
        "repo": str(hook_repo), "rev": rev,
        "hooks": [{"id": "carpenter-fix"}, {"id": "carpenter-scan"}]}]}))
    (work / "Dockerfile").write_text("FROM python:3.11\nRUN pip install torch\n")
    (work / "notes.txt").write_text("RUN pip install torch\n")
    git(work, "add", "-A")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "CARPENTER_OFFLINE": "1",
           "CARPENTER_NO_CACHE": "1"}
    env.pop("PYTHONPATH", None)  # the hook must run its own installed Carpenter
    done = subprocess.run([PRE_COMMIT, "run", "--all-files"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=900)
    log = done.stdout + done.stderr
    assert done.returncode == 1, log  # the fix hook changed a file
    assert "torch==" in (work / "Dockerfile").read_text(), log
    assert (work / "notes.txt").read_text() == "RUN pip install torch\n"
    assert "carpenter fix" in log and "Failed" in log
    # Second run: fixed, the scan hook reports what is left (a floating base image).
    again = subprocess.run([PRE_COMMIT, "run", "carpenter-fix", "--all-files"], cwd=work,
                           env=env, capture_output=True, text=True, timeout=600)
    assert "Passed" in again.stdout + again.stderr or again.returncode in (0, 1)
