"""Typed scan -> fix payloads: rules attach them, `data` mirrors them, the cache drops them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from carpenter.fix.engine import FixOptions, fix_findings
from carpenter.scan import cache
from carpenter.scan.engine import ScanOptions, scan_paths
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import PipPin, SecretMove
from tests.fix.helpers import make_snapshot

TOKEN = "hf_" + "ZxCvBnMaSdFgHjKlQwErTyUiOpZxCvBnMa"


def scan(tmp_path: Path, dockerfile: str, **files: str) -> list[Finding]:
    (tmp_path / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    report = scan_paths([str(tmp_path / "Dockerfile")], ScanOptions())
    assert not report.errors, report.errors
    return report.findings


def by_rule(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def test_pip_rules_attach_a_pip_pin_mirrored_in_data(tmp_path: Path) -> None:
    findings = scan(tmp_path, "FROM python:3.10-slim\nCOPY requirements.txt .\n"
                    'RUN pip install "transformers>=4.34" && pip install -r requirements.txt\n'
                    "RUN pip install torch>=2.0.1\n", **{"requirements.txt": "peft~=0.6\n"})
    run = by_rule(findings, "PIP001")[0]
    assert isinstance(run.payload, PipPin)
    assert (run.payload.package, run.payload.requirement, run.payload.specifier) == (
        "transformers", "transformers>=4.34", ">=4.34")
    text = (tmp_path / "Dockerfile").read_text()
    assert text[run.payload.spec_offset:run.payload.spec_end_offset] == ">=4.34"
    assert run.data == run.payload.to_dict()
    assert run.data["extras"] == []  # a list, as `data` always held it
    (req,) = by_rule(findings, "PIP002")
    assert isinstance(req.payload, PipPin) and req.payload.file == "requirements.txt"
    (shell,) = by_rule(findings, "SH001")
    assert shell.payload == PipPin(package="torch", requirement="torch>=2.0.1")


def test_secret_rules_attach_a_secret_move(tmp_path: Path) -> None:
    findings = scan(tmp_path, f"FROM python:3.10-slim\nENV HF_TOKEN={TOKEN}\n"
                    "ARG WANDB_API_KEY\n")
    (literal,) = by_rule(findings, "SEC001")
    assert isinstance(literal.payload, SecretMove)
    assert literal.payload.variable == "HF_TOKEN" and literal.payload.instruction == "ENV"
    (placeholder,) = by_rule(findings, "SEC005")
    assert placeholder.payload == SecretMove(secret_kind="placeholder", variable="WANDB_API_KEY")
    assert TOKEN not in json.dumps(literal.data)  # a fingerprint, never the value


def test_cache_rows_keep_no_payload_and_read_back(tmp_path: Path) -> None:
    (finding,) = by_rule(scan(tmp_path, 'FROM python:3.10-slim\nRUN pip install "peft>0.5"\n'),
                         "PIP001")
    row = cache._row(finding)
    assert row is not None
    body = json.dumps({"fields": cache.FIELDS, "findings": [row]})  # raises on a dataclass
    (back,) = cache._findings(body) or []
    assert back.payload is None and back.data == {}
    assert dataclasses.replace(finding, payload=None, data={}) == back
    assert "payload" not in finding.to_json() and "data" not in finding.to_json()


def test_fix_reads_the_payload_not_the_category(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM python:3.10-slim\nRUN huggingface-cli download "
                                         f"org/model --token {TOKEN}\nRUN pip install peft\n")
    findings = scan(tmp_path, (tmp_path / "Dockerfile").read_text())
    secret = by_rule(findings, "SEC001")[0]
    pip = by_rule(findings, "PIP001")[0]
    path = str(tmp_path / "Dockerfile")
    options = FixOptions(make_snapshot())
    # The variable the literal becomes comes from SecretMove.variable.
    named = dataclasses.replace(secret, payload=SecretMove(secret_kind="x", variable="MY_HF"))
    report = fix_findings(path, [named], options)
    assert "${MY_HF}" in report.files[0].after
    # A pip finding without its PipPin is not pinned by category alone.
    report = fix_findings(path, [dataclasses.replace(pip, payload=None)], options)
    assert not report.files or "peft==" not in report.files[0].after
    report = fix_findings(path, [pip], options)
    assert "peft==0.5.0" in report.files[0].after
