"""The typed per-file problem: its JSON form is the one the reports always wrote."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from carpenter.core.diagnostics import Diagnostic
from carpenter.fix.engine import FixResult
from carpenter.report.interface import error_text
from carpenter.scan.engine import ScanOptions, scan_paths


def test_to_dict_keeps_keys_and_order_and_omits_absent_column() -> None:
    assert list(Diagnostic("D", None, "bad").to_dict().items()) == [
        ("path", "D"), ("line", None), ("message", "bad")]
    assert Diagnostic("D", 3, "bad", column=7).to_dict() == {
        "path": "D", "line": 3, "message": "bad", "column": 7}


def test_where_and_error_text() -> None:
    assert Diagnostic("D", 4, "bad").where() == "D:4"
    assert Diagnostic("D", None, "bad").where() == "D"
    assert error_text(Diagnostic("D", 4, "bad")) == "D:4: bad"
    assert error_text(Diagnostic("", None, "bad")) == "bad"


def test_crosses_process_boundaries() -> None:
    """scan --jobs and fix --jobs hand results back from worker processes."""
    diagnostic = Diagnostic("D", 2, "bad")
    assert pickle.loads(pickle.dumps(diagnostic)) == diagnostic


def test_stages_build_diagnostics(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_bytes(b"FROM a\x00b\n")
    report = scan_paths([str(tmp_path / "Dockerfile"), str(tmp_path / "missing")],
                        ScanOptions())
    assert all(isinstance(e, Diagnostic) for e in report.errors)
    assert {e.message for e in report.errors} == {
        "no such file or directory", "binary file (contains NUL bytes), not a Dockerfile"}


def test_fix_result_json_redacts_the_message() -> None:
    result = FixResult("s", "rewrite", errors=[Diagnostic("D", 1, "token hf_secretvalue1234")],
                       secrets=["hf_secretvalue1234"])
    errors = json.loads(json.dumps(result.to_dict()))["errors"]
    assert list(errors[0]) == ["path", "line", "message"]
    assert "hf_secretvalue1234" not in errors[0]["message"]
