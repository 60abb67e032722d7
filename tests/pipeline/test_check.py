"""`carpenter check`: verdicts, the git-apply patch, options from the config file, errors."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from carpenter.pipeline.bases import compare_facts, expected_facts
from carpenter.pipeline.verdict import decide

ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = ROOT / "fixtures" / "submissions"


def check(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "carpenter.cli", "check", *args],
                          capture_output=True, text=True, timeout=600, cwd=cwd,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_static_check_repairs_into_a_copy_and_the_patch_applies(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    shutil.copytree(SUBMISSIONS / "qlora-cuda-unpinned", sub)
    before = tree_digest(sub)
    proc = check(str(sub), "--stages", "scan,fix", "--out", str(tmp_path / "out"))
    assert proc.returncode == 10, proc.stderr  # repaired
    assert "REPAIRED" in proc.stdout
    assert tree_digest(sub) == before  # never in place
    # The log folder is named before any stage runs.
    assert proc.stderr.splitlines()[0].endswith(f"logs in {tmp_path / 'out' / 'logs'}")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["verdict"] == "repaired" and report["stages"]["fix"]["applied"] > 0
    subprocess.run(["git", "init", "-q", str(sub)], check=True)
    subprocess.run(["git", "-C", str(sub), "apply", str(tmp_path / "out" / "fix.patch")],
                   check=True)
    repaired = tmp_path / "out" / "repaired"
    for name in ("Dockerfile", "requirements.txt"):
        assert (sub / name).read_text() == (repaired / name).read_text()


def test_secrets_never_reach_the_report(tmp_path: Path) -> None:
    proc = check(str(SUBMISSIONS / "sec-env-arg-tokens"), "--stages", "scan,fix",
                 "--out", str(tmp_path / "out"), "--format", "json")
    tokens = set(__import__("re").findall(r"hf_[A-Za-z0-9]{30,}",
                                          (SUBMISSIONS / "sec-env-arg-tokens/Dockerfile")
                                          .read_text()))
    assert tokens
    written = proc.stdout + proc.stderr + "".join(
        p.read_text(errors="replace") for p in (tmp_path / "out").glob("*") if p.is_file())
    assert not any(t in written for t in tokens)
    assert json.loads(proc.stdout)["verdict"] == "needs-human"
    assert proc.returncode == 11


def test_config_file_check_table_gives_defaults(tmp_path: Path) -> None:
    (tmp_path / ".carpenter.toml").write_text('[check]\nstages = "scan"\n')
    proc = check(str(SUBMISSIONS / "apt-pinned-clean"), "--out", str(tmp_path / "o"),
                 cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert list(json.loads((tmp_path / "o/report.json").read_text())["stages"]) == ["scan"]
    (tmp_path / ".carpenter.toml").write_text('[check]\nstagez = "scan"\n')
    proc = check(str(SUBMISSIONS / "apt-pinned-clean"), cwd=tmp_path)
    assert proc.returncode == 2 and "unknown key(s) stagez" in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["/no/such/folder"], "no such file or folder"),
    ([str(SUBMISSIONS / "apt-pinned-clean"), "--stages", "scan,deploy"], "--stages"),
    ([str(SUBMISSIONS / "apt-pinned-clean"), "--base-map", "nope"], "expected KEY=VALUE"),
])
def test_bad_input_is_a_located_error_not_a_traceback(args, message, tmp_path) -> None:
    proc = check(*args, "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def built(status: str, **extra) -> dict:
    return {"status": status, **extra}


def test_verdicts_from_build_and_smoke_results() -> None:
    ok = {"rebuild": {"status": "built", "original": built("built"), "floating": []},
          "smoke": {"status": "passed", "original": {"passed": True, "checks": []}}}
    assert decide(ok)[0] == "reproducible"
    failing = {"status": "failed", "failure_class": "dependency-resolution",
               "evidence": "No matching distribution found for torch==9.9", "evidence_line": 7}
    repaired = {"rebuild": {"status": "repaired-built", "original": failing,
                            "repaired": built("built")},
                "smoke": {"status": "passed", "repaired": {"passed": True, "checks": []}}}
    verdict, reasons = decide(repaired)
    assert verdict == "repaired" and "torch==9.9" in reasons[0] and "log line 7" in reasons[0]
    smoke_fails = {"rebuild": ok["rebuild"], "fix": {"status": "nothing-to-fix"},
                   "smoke": {"status": "failed", "original": {
                       "passed": False, "checks": [{"name": "peft import", "status": "fail",
                                                    "detail": "No module named peft"}]}}}
    verdict, reasons = decide(smoke_fails)
    assert verdict == "needs-human" and any("No module named peft" in r for r in reasons)
    drift = {"rebuild": {"status": "built", "original": built("built"),
                         "repaired": built("built"), "drift": {"only_original": ["six==1.17.0"]},
                         "floating": ["unpinned-pip"]}}
    assert decide(drift)[0] == "repaired"


def test_base_substitution_notes_name_each_difference() -> None:
    ref = "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel"
    expected = expected_facts(ref)
    assert expected == {"cuda": "12.1", "nvcc": "yes", "torch": "2.1.0"}
    notes = compare_facts(ref, "stand-in:1", expected,
                          {"os": "debian-12", "python": "3.11", "cuda_home": ""})
    assert any(n.startswith("CUDA toolkit: ") and "none" in n for n in notes)
    assert any(n.startswith("preinstalled torch") for n in notes)
    assert any(n.startswith("nvcc:") and "no CUDA_HOME" in n for n in notes)
    assert expected_facts("python:3.10-slim-bookworm") == {"python": "3.10", "os": "debian-12"}
    assert compare_facts("python:3.11", "x", {"python": "3.11"}, {"python": "3.11"}) == []


@pytest.mark.engine
def test_check_on_the_engine_names_the_failing_line(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "batch"))
    from batch_engine import engine_problem

    if problem := engine_problem():
        if __import__("os").environ.get("CARPENTER_REQUIRE_ENGINE") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    proc = check(str(ROOT / "fixtures" / "batch" / "needs-human"), "--stages",
                 "scan,fix,rebuild", "--out", str(tmp_path / "o"), "--network", "none")
    assert proc.returncode == 11, proc.stderr
    assert "command-failed" in proc.stdout and "evidence (log line" in proc.stdout
    assert (tmp_path / "o" / "logs" / "rebuild.original.log").is_file()


def test_a_dockerfile_scan_cannot_read_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    # Scan errors are typed Diagnostics; check once read them as dicts and crashed.
    from carpenter.pipeline.stages import CheckOptions, Submission, scan_stage

    (tmp_path / "Dockerfile").write_bytes(b"\x00\x01binary\x00" * 50)
    result = scan_stage(Submission("bin", str(tmp_path)), CheckOptions(), {})
    assert result["errors"] and all(isinstance(e, str) for e in result["errors"])


@pytest.mark.engine
def test_check_smokes_the_rebuilt_image_and_calls_it_reproducible(tmp_path: Path) -> None:
    """rebuild then smoke inside `check`, on the real engine: a tiny submission whose base is
    mapped onto the prebuilt smoke image (torch, transformers, peft), so the harness passes."""
    sys.path.insert(0, str(ROOT / "tests" / "batch"))
    sys.path.insert(0, str(ROOT / "tests" / "smoke"))
    from batch_engine import engine_problem

    if problem := engine_problem():
        if __import__("os").environ.get("CARPENTER_REQUIRE_ENGINE") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    import docker
    from smoke_images import ensure_image

    base = ensure_image(docker.from_env(), "current")
    sub = tmp_path / "tiny"
    sub.mkdir()
    (sub / "Dockerfile").write_text("FROM python:3.11-slim\nRUN echo ready > /opt/ready\n")
    out = tmp_path / "o"
    proc = check(str(sub), "--stages", "rebuild,smoke", "--base-map",
                 f"python:3.11-slim={base}", "--network", "none", "--out", str(out),
                 "--format", "json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["verdict"] == "reproducible", report
    smoke = report["stages"]["smoke"]
    assert smoke["status"] == "passed" and smoke["original"]["passed"]
    assert smoke["repaired"] is None  # the original passed: nothing else to smoke
    assert report["stages"]["rebuild"]["original"]["status"] == "built"
