"""The harness script itself, without Docker: syntax floor, missing and broken libraries."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from carpenter.smoke.runner import HARNESS_DIR, HARNESS_SCRIPT, RESULT_MARKER, parse_result

HARNESS = HARNESS_DIR / HARNESS_SCRIPT


def run_harness(tmp_path: Path, pythonpath: Path | None = None) -> tuple[int, dict, str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    proc = subprocess.run([sys.executable, "-B", str(HARNESS), "--workdir", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    data = parse_result(proc.stdout)
    assert data is not None, proc.stdout + proc.stderr
    return proc.returncode, data, proc.stdout


def test_harness_parses_as_python_38() -> None:
    tree = ast.parse(HARNESS.read_text(), feature_version=(3, 8))
    # Annotations like `list[int]` or `X | None` are evaluated at run time on 3.8: allow none.
    annotated = [node.lineno for node in ast.walk(tree)
                 if isinstance(node, ast.AnnAssign)
                 or (isinstance(node, ast.arg) and node.annotation is not None)
                 or (isinstance(node, ast.FunctionDef) and node.returns is not None)]
    assert annotated == []


def test_harness_compiles_with_a_real_python_38(tmp_path: Path) -> None:
    candidates = [shutil.which("python3.8"), *map(str, Path.home().glob(
        ".pyenv/versions/3.8*/bin/python3.8"))]
    python38 = next((c for c in candidates if c and subprocess.run(
        [c, "--version"], capture_output=True, check=False).returncode == 0), None)
    if python38 is None:
        pytest.skip("no Python 3.8 interpreter on this machine")
    proc = subprocess.run([python38, "-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())",
                           str(HARNESS)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_missing_libraries_give_a_clear_result(tmp_path: Path) -> None:
    # The project venv has no torch/transformers/peft: exactly an image that lacks them.
    code, data, stdout = run_harness(tmp_path)
    assert code == 1
    assert data["status"] == "missing-library"
    assert set(data["missing"]) == {"torch", "transformers", "peft"}
    details = {c["name"]: c["detail"] for c in data["checks"]}
    assert details["import peft"] == "image lacks peft (not installed)"
    assert all(c["status"] == "fail" for c in data["checks"])
    assert "Traceback" not in stdout
    assert data["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))


def test_broken_import_is_reported_with_its_location(tmp_path: Path) -> None:
    fake = tmp_path / "site"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text(
        "__version__ = '9.9'\nclass version:\n    cuda = None\n"
        "class cuda:\n    @staticmethod\n    def is_available():\n        return False\n")
    (fake / "transformers.py").write_text("__version__ = '4.99'\n")
    (fake / "peft.py").write_text("from transformers import prepare_model_for_int8_training\n")
    code, data, _ = run_harness(tmp_path, pythonpath=fake)
    assert code == 1
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["import torch"]["status"] == "pass"
    assert checks["import peft"]["status"] == "fail"
    detail = checks["import peft"]["detail"]
    assert detail.startswith("peft is installed but fails to import: ImportError")
    assert "prepare_model_for_int8_training" in detail and "peft.py:1" in detail
    assert data["missing"] == []


def test_parse_result_takes_the_last_marker_line() -> None:
    noise = "Loading weights 100%\n" + RESULT_MARKER + '{"status": "failed"}\n'
    assert parse_result(noise + RESULT_MARKER + json.dumps({"status": "passed"}))["status"] \
        == "passed"
    assert parse_result("no marker here\n") is None
    assert parse_result(RESULT_MARKER + "{not json") is None
    assert parse_result(RESULT_MARKER + "[1, 2]") is None
