"""The composite GitHub Action: schema-valid offline, injection-safe, and its scan step works."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "github_action" / "action.yml"
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def action() -> dict:
    return yaml.safe_load(ACTION.read_text())


def test_schema_valid_offline() -> None:
    tool = VENV_BIN / "check-jsonschema"
    result = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.github-actions", str(ACTION)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_run_step_without_shell(tmp_path: Path, action: dict) -> None:
    # The validator is only worth something if it fails on the classic composite mistake.
    broken = dict(action)
    steps = [dict(step) for step in action["runs"]["steps"]]
    next(step for step in steps if "run" in step).pop("shell")
    broken["runs"] = {**action["runs"], "steps": steps}
    path = tmp_path / "action.yml"
    path.write_text(yaml.safe_dump(broken))
    result = subprocess.run(
        [str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-actions",
         str(path)],
        capture_output=True, text=True,
    )
    assert result.returncode != 0


def test_composite_conventions(action: dict) -> None:
    assert action["runs"]["using"] == "composite"
    for name, spec in action["inputs"].items():
        assert spec.get("description"), name
    step_ids = {step.get("id") for step in action["runs"]["steps"]}
    for name, spec in action["outputs"].items():
        match = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.[\w-]+ \}\}", spec["value"])
        assert match and match.group(1) in step_ids, name
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert step.get("shell"), step["name"]
            # Inputs and event data reach scripts through env:, never spliced into the script.
            assert "${{" not in step["run"], step["name"]
        if "uses" in step:
            assert re.search(r"@[0-9a-f]{40}$", step["uses"]), f"unpinned {step['uses']}"


def test_install_step_uses_the_lock(action: dict) -> None:
    install = next(s for s in action["runs"]["steps"] if s["name"].startswith("Install"))
    assert "--require-hashes" in install["run"]
    # Runtime dependencies only: the lock the Action installs holds no test or lint tool.
    assert "requirements-runtime.lock" in install["run"]
    runtime = (ROOT / "requirements-runtime.lock").read_text()
    for tool in ("pytest==", "ruff==", "hypothesis==", "pre-commit=="):
        assert tool not in runtime
    assert "click==" in runtime and "--hash=sha256:" in runtime
    cache = next(s for s in action["runs"]["steps"] if "actions/cache@" in s.get("uses", ""))
    assert "requirements-runtime.lock" in cache["with"]["key"]
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"


def _run_scan_step(action: dict, tmp_path: Path, **inputs: str) -> tuple[int, dict, str]:
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "scan")
    output = tmp_path / "github_output"
    output.write_text("")
    env = {key: "" for key in step["env"]}
    env.update(
        {
            "INPUT_PATHS": ".", "INPUT_FORMAT": "sarif", "INPUT_FAIL_ON": "warning",
            "INPUT_SARIF_FILE": "out.sarif", "BASE_REPO": "org/repo",
        }
    )
    env.update(inputs)
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", GITHUB_OUTPUT=str(output),
        HOME=str(tmp_path), NO_COLOR="1",
        # The checkout under test, also where the venv's carpenter is another checkout's.
        PYTHONPATH=str(ROOT),
    )
    result = subprocess.run(
        [shutil.which("bash") or "bash", "-c", step["run"]], cwd=tmp_path / "repo", env=env,
        capture_output=True, text=True,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return result.returncode, outputs, result.stdout + result.stderr


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    (tmp_path / "repo" / "sub").mkdir(parents=True)
    (tmp_path / "repo" / "sub" / "Dockerfile").write_text(
        "FROM python:3.11\nRUN apt-get update\n    pip install torch\n"
    )
    return tmp_path


def test_scan_step_writes_sarif(action: dict, repo: Path) -> None:
    code, outputs, log = _run_scan_step(action, repo)
    assert code == 0, log  # the step records the exit code; the last step fails the job
    assert outputs["exit-code"] == "1"
    assert outputs["fork"] == "false"
    assert outputs["sarif-file"] == "out.sarif"
    sarif = json.loads((repo / "repo" / "out.sarif").read_text())
    assert "DF002" in {r["ruleId"] for r in sarif["runs"][0]["results"]}
    assert "::error" not in log


def test_scan_step_annotates_fork_pull_requests(action: dict, repo: Path) -> None:
    code, outputs, log = _run_scan_step(action, repo, HEAD_REPO="someone/fork")
    assert code == 0, log
    assert outputs["fork"] == "true"
    assert "::error file=sub/Dockerfile,line=3," in log
    assert (repo / "repo" / "out.sarif").is_file()


def test_scan_step_other_formats_and_profile_error(action: dict, repo: Path) -> None:
    _, outputs, log = _run_scan_step(action, repo, INPUT_FORMAT="github",
                                        INPUT_PATHS="sub  sub/Dockerfile")
    assert outputs["exit-code"] == "1" and outputs["sarif-file"] == ""
    assert log.count("::error file=sub/Dockerfile,line=3,") == 1  # named twice, scanned once
    _, outputs, log = _run_scan_step(action, repo, INPUT_FORMAT="text",
                                        INPUT_PROFILE="no-such-profile")
    assert outputs["exit-code"] == "2"
    assert "unknown profile" in log


def test_scan_step_uses_the_category_input(action: dict, repo: Path) -> None:
    code, _, log = _run_scan_step(action, repo, INPUT_CATEGORY="matrix/leg-1")
    assert code == 0, log
    sarif = json.loads((repo / "repo" / "out.sarif").read_text())
    assert sarif["runs"][0]["automationDetails"]["id"] == "matrix/leg-1/"
    upload = next(s for s in action["runs"]["steps"] if "upload-sarif" in s.get("uses", ""))
    assert upload["with"]["category"] == "${{ inputs.category }}"


def test_shallow_clone_is_reported(action: dict, tmp_path: Path) -> None:
    step = next(s for s in action["runs"]["steps"] if s["name"] == "Detect a shallow clone")
    source = tmp_path / "src"
    source.mkdir()
    subprocess.run(["git", "init", "-q", str(source)], check=True)
    for n in range(2):  # two commits: a depth-1 clone of them is shallow
        (source / "f").write_text(str(n))
        subprocess.run(["git", "-C", str(source), "add", "-A"], check=True)
        subprocess.run(["git", "-C", str(source), "-c", "user.name=t", "-c", "user.email=t@t",
                        "commit", "-qm", str(n)], check=True)
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth=1", source.as_uri(), str(shallow)],
                   check=True)
    for folder, expected in ((shallow, True), (source, False)):
        done = subprocess.run(["bash", "-c", step["run"]], cwd=folder, capture_output=True,
                              text=True)
        assert done.returncode == 0
        assert ("fetch-depth: 0" in done.stdout) is expected
