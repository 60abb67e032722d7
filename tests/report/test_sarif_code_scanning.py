"""SARIF as GitHub code scanning reads it: repository-relative URIs whatever the working
directory, primaryLocationLineHash, fixes[] from the fix stage, meaningful rule properties,
categories, and GitHub's documented limits (checked on every fixture)."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest

from carpenter.cli import main
from carpenter.report import sarif
from carpenter.report.sarif import GITHUB_FINGERPRINT_KEY, SarifReporter, automation_id
from carpenter.scan.engine import ScanReport
from carpenter.scan.finding import Finding

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "tests/data/sarif-schema-2.1.0.json").read_text())
VALIDATOR = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)
TOKEN = "hf_" + "Zq8rT2vX9wLmN4pK7sB1cD5fG3hJ6kQ0aE"
DOCKERFILE = (f"FROM python:3.11\nENV HF_TOKEN={TOKEN}\n"
              "RUN pip install torch transformers\n")
PRECISIONS = {"very-high", "high", "medium", "low"}


def github_limits(document: dict) -> list[str]:
    """Problems GitHub's upload would have with `document` (docs: SARIF support for code
    scanning, upload limits): a non-empty list means the upload fails or loses data."""
    problems = []
    blob = json.dumps(document).encode()
    if len(gzip.compress(blob)) > 10 * 1024 * 1024:
        problems.append("over 10 MB gzipped")
    if len(document["runs"]) > 20:
        problems.append("more than 20 runs")
    for run in document["runs"]:
        rules = run["tool"]["driver"]["rules"]
        if len(run["results"]) > 25_000 or len(rules) > 25_000:
            problems.append("more than 25,000 results or rules in a run")
        if not run.get("automationDetails", {}).get("id", "").endswith("/"):
            problems.append("automationDetails.id is not a category")
        for rule in rules:
            props = rule["properties"]
            if len(props["tags"]) > 20:
                problems.append(f"{rule['id']}: more than 20 tags")
            if not rule.get("helpUri", "").startswith("https://"):
                problems.append(f"{rule['id']}: helpUri")
            if props.get("precision") not in PRECISIONS:
                problems.append(f"{rule['id']}: precision")
            if props.get("problem.severity") not in ("error", "warning", "recommendation"):
                problems.append(f"{rule['id']}: problem.severity")
            if "security-severity" in props:
                score = float(props["security-severity"])
                if "security" not in props["tags"] or not 0.1 <= score <= 10:
                    problems.append(f"{rule['id']}: security-severity")
        for result in run["results"]:
            where = f"{result['ruleId']}"
            if not re.fullmatch(r"[0-9a-f]+:\d+",
                                result.get("partialFingerprints", {}).get(
                                    GITHUB_FINGERPRINT_KEY, "")):
                problems.append(f"{where}: primaryLocationLineHash")
            if len(result["locations"]) > 1_000:
                problems.append(f"{where}: more than 1,000 locations")
            if len(result["message"]["text"]) > sarif.MAX_MESSAGE:
                problems.append(f"{where}: message too long")
            artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
            if artifact.get("uriBaseId") != "%SRCROOT%" or artifact["uri"].startswith(
                    ("/", "file:")):
                problems.append(f"{where}: uri {artifact['uri']} not repository-relative")
    return problems


def sarif_doc(capsys, *args: str) -> dict:
    with pytest.raises(SystemExit):
        main(["scan", *args, "--format", "sarif", "--no-cache"])
    document = json.loads(capsys.readouterr().out)
    errors = [f"{list(e.path)}: {e.message}" for e in VALIDATOR.iter_errors(document)]
    assert not errors, errors[:5]
    return document


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "sub").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "sub" / "Dockerfile").write_text(DOCKERFILE)
    return root


def _uris(document: dict) -> set[str]:
    return {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in document["runs"][0]["results"]}


def test_uris_are_relative_to_the_repository_whatever_the_working_directory(
        repo: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(repo / "sub")  # the Action's working-directory input
    inside = sarif_doc(capsys, ".")
    monkeypatch.chdir(repo.parent)
    outside = sarif_doc(capsys, str(repo / "sub"))
    assert _uris(inside) == _uris(outside) == {"sub/Dockerfile"}
    for document in (inside, outside):
        run = document["runs"][0]
        assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == repo.as_uri() + "/"
        assert github_limits(document) == []


def test_every_result_has_primary_location_line_hash_stable_across_moves(
        repo: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(repo)
    first = sarif_doc(capsys, "sub")["runs"][0]["results"]
    (repo / "sub" / "Dockerfile").write_text("# moved\n\n" + DOCKERFILE)
    moved = sarif_doc(capsys, "sub")["runs"][0]["results"]
    assert [r["partialFingerprints"][GITHUB_FINGERPRINT_KEY] for r in first] == [
        r["partialFingerprints"][GITHUB_FINGERPRINT_KEY] for r in moved]
    hashes = [r["partialFingerprints"][GITHUB_FINGERPRINT_KEY] for r in first]
    assert len(set(hashes)) == len(hashes)  # two findings on one line stay two alerts


def test_fixes_are_the_edits_fix_makes_and_never_carry_a_secret(
        repo: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(repo)
    document = sarif_doc(capsys, "sub")
    assert TOKEN not in json.dumps(document)
    results = {(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startColumn"]): r
               for r in document["runs"][0]["results"]}
    pip = next(r for (rule, _), r in results.items() if rule == "PIP001")
    [change] = pip["fixes"][0]["artifactChanges"]
    assert change["artifactLocation"] == {"uri": "sub/Dockerfile", "uriBaseId": "%SRCROOT%"}
    [replacement] = change["replacements"]
    region = replacement["deletedRegion"]
    line = DOCKERFILE.splitlines()[region["startLine"] - 1]
    old = line[region["startColumn"] - 1: region["endColumn"] - 1]
    assert old in ("torch", "transformers")
    assert replacement["insertedContent"]["text"].startswith(old + "==")
    # The secret's fix deletes the ENV line: the replacement is the empty text.
    secret = next(r for (rule, _), r in results.items() if rule.startswith("SEC"))
    assert TOKEN not in json.dumps(secret)
    # Without fixes (--no-sarif-fixes) no result has any.
    with pytest.raises(SystemExit):
        main(["scan", "sub", "--format", "sarif", "--no-sarif-fixes", "--no-cache"])
    assert '"fixes"' not in capsys.readouterr().out


def test_category_becomes_automation_details_id(repo: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(repo)
    assert sarif_doc(capsys, "sub")["runs"][0]["automationDetails"]["id"] == "carpenter/scan/"
    document = sarif_doc(capsys, "sub", "--sarif-category", "matrix/gpu-a100")
    assert document["runs"][0]["automationDetails"]["id"] == "matrix/gpu-a100/"
    assert automation_id("  /x/ ") == "x/" and automation_id("") == "carpenter/scan/"


def _finding(i: int, severity: str) -> Finding:
    return Finding("DF002", "unknown-instruction", "shell-bug", severity, "Dockerfile", i, i,
                   1, 2, "m" * 5000, "", False, 0, 0, {})


def test_over_the_result_cap_the_most_severe_stay(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(sarif, "MAX_RESULTS", 2)
    monkeypatch.chdir(tmp_path)
    report = ScanReport(files=["Dockerfile"],
                        findings=[_finding(1, "info"), _finding(2, "error"),
                                  _finding(3, "warning")])
    document = SarifReporter().document(report)
    run = document["runs"][0]
    assert [r["level"] for r in run["results"]] == ["error", "warning"]
    [note] = run["invocations"][0]["toolExecutionNotifications"]
    assert "1 less severe" in note["message"]["text"]
    assert all(len(r["message"]["text"]) <= sarif.MAX_MESSAGE for r in run["results"])
    assert not list(VALIDATOR.iter_errors(document))


def test_every_fixture_meets_githubs_limits(capsys, monkeypatch) -> None:
    fixtures = ROOT / "fixtures" / "submissions"
    monkeypatch.chdir(ROOT)  # the checkout is a git repository (a worktree: .git is a file)
    document = sarif_doc(capsys, str(fixtures))
    assert document["runs"][0]["results"]
    assert github_limits(document) == []
    assert any("fixes" in r for r in document["runs"][0]["results"])
