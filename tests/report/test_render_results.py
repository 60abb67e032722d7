"""report.render(result, fmt): every stage result in text and json, exactly as the CLIs print."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from carpenter.core.diagnostics import Diagnostic
from carpenter.fix.engine import FixRecord, FixResult
from carpenter.rebuild.compare import CompareResult, fix_copy
from carpenter.rebuild.interface import BuildResult
from carpenter.report.interface import Output, render
from carpenter.smoke.result import Check, ServerResult, SmokeResult

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hf_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7"


def built() -> BuildResult:
    return BuildResult(path="/s", dockerfile="/s/Dockerfile", status="built", tag="t:1",
                       image_id="sha256:0123456789abcdef0123", image_size=12_500_000,
                       duration_s=3.14, backend="legacy", log_path="/l.log",
                       pip_freeze=["a==1", "b==2"], notes=["n1"])


def failed() -> BuildResult:
    return BuildResult(path="/s", dockerfile="/s/Dockerfile", status="failed",
                       failure_class="network", message="no route", evidence="curl: (6)",
                       evidence_line=7, exit_code=6, duration_s=1.0, backend="buildkit",
                       log_path="/l.log",
                       base_substitutions=[{"ref": "x:1", "image": "y:1", "line": "1"}])


def test_build_text_and_json() -> None:
    assert render(built(), "text") == Output(
        "built t:1 sha256:0123456789ab (12.5 MB) in 3.1 s [legacy]\n"
        "  pip freeze: 2 distributions\n  note: n1\n  log: /l.log\n")
    assert render(failed(), "text").stdout == (
        "FAILED network: no route (1.0 s, buildkit)\n  evidence (log line 7): curl: (6)\n"
        "  exit code: 6\n  base image substituted: x:1 -> y:1 (line 1); the result is for the"
        " stand-in\n  log: /l.log\n")
    out = render(built(), "json").stdout
    assert out == json.dumps({"result": built().to_dict()}, indent=2, sort_keys=True) + "\n"


def test_compare_without_a_fixed_build_says_why() -> None:
    result = CompareResult(failed(), None, "carpenter fix failed: x")
    text = render(result, "text").stdout
    assert text.startswith("== original\nFAILED network")
    assert text.endswith("== fixed (carpenter fix --out)\n"
                         "fix unavailable: carpenter fix failed: x\n")
    data = json.loads(render(result, "json").stdout)
    assert data["fix"] == {"status": "unavailable", "message": "carpenter fix failed: x"}
    assert data["fixed"] is None and data["pip_freeze_diff"] is None


def test_compare_lists_the_freeze_difference() -> None:
    result = CompareResult(built(), built(), "", {"only_original": ["a==1"], "only_fixed": []})
    assert render(result, "text").stdout.endswith(
        "== pip freeze: 1 only in original, 0 only in fixed\n  - a==1\n")
    assert json.loads(render(result, "json").stdout)["fix"] == {"status": "ok", "message": ""}


def smoke() -> SmokeResult:
    server = ServerResult(contract="neurips-2023", port=8080, log_tail=f"token {TOKEN}")
    server.add("ready", True, "in 1 s")
    return SmokeResult(image="img", image_id="sha256:abcdef0123456789", status="passed",
                       device="cpu", versions={"python": "3.10", "torch": ""},
                       losses=[2.0, 1.5], trainable_params=10,
                       checks=[Check("import torch", "pass", "ok")], timings={"total": 1.0},
                       server=server)


def test_smoke_text_and_json_never_hold_a_full_token() -> None:
    text = render(smoke(), "text").stdout
    assert "carpenter smoke: img (abcdef012345)" in text and "result:   PASSED" in text
    assert "versions: python 3.10, torch -" in text
    assert "    PASS  ready  in 1 s" in text
    assert TOKEN not in text
    out = render(smoke(), "json").stdout
    assert TOKEN not in out and json.loads(out)["passed"] is True


def test_fix_text_goes_to_stderr_and_the_diff_to_stdout() -> None:
    result = FixResult("snap", "rewrite", notes=[f"uses {TOKEN}"], build_flags=["--x"],
                       errors=[Diagnostic("D", 2, "bad")], written=["/o/D"])
    result.records.append(FixRecord("PIP001", "unpinned-pip", "D", 3, 4, "m", "skipped", "why"))
    output = render(result, "text", show_diff=False)
    assert output.stdout == ""
    lines = output.stderr.splitlines()
    assert lines[:2] == ["carpenter: error: D:2: bad", "D:3:4: not fixed [PIP001] why"]
    assert lines[2].startswith("note: uses hf_") and TOKEN not in output.stderr
    assert lines[3:] == ["build with: docker build --x ...", "wrote /o/D",
                         "0 fix(es) applied, 1 not fixed (snapshot snap, strategy rewrite)"]
    data = json.loads(render(result, "json").stdout)
    assert list(data) == ["snapshot", "strategy", "files_scanned", "applied", "skipped",
                          "changed_files", "written", "diff", "notes", "build_flags", "errors"]
    assert data["written"] == ["/o/D"] and TOKEN not in json.dumps(data)


def test_unknown_results_and_scan_only_formats_are_refused() -> None:
    with pytest.raises(TypeError):
        render(object(), "text")
    with pytest.raises(ValueError):
        render(built(), "sarif")


def test_compare_fixes_in_process_without_a_subprocess(monkeypatch, tmp_path: Path) -> None:
    # rebuild --compare used to run `python -m carpenter.cli fix`; now no process is started.
    # Only a Carpenter process is refused: git still runs (its answers are cached process-wide,
    # so refusing it here would poison later tests' git state).
    real_popen = subprocess.Popen

    def no_carpenter(argv, *args: object, **kwargs: object):
        words = [str(a) for a in (argv if isinstance(argv, list | tuple) else [argv])]
        if any("carpenter" in w or w == sys.executable for w in words):
            raise AssertionError("rebuild --compare must not start a Carpenter process")
        return real_popen(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", no_carpenter)
    submission = ROOT / "fixtures" / "submissions" / "apt-variants"
    out = tmp_path / "fixed"
    assert fix_copy(submission, out) is None
    fixed = (out / "Dockerfile").read_text(encoding="utf-8")
    assert fixed != (submission / "Dockerfile").read_text(encoding="utf-8")
    assert "=" in fixed  # apt packages pinned


def test_compare_reports_a_fix_that_cannot_run(tmp_path: Path) -> None:
    assert fix_copy(tmp_path / "missing", tmp_path / "out").startswith("carpenter fix failed")
