"""Output formats: SARIF against the official OASIS schema, GitHub commands, redaction."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from carpenter.cli import main
from carpenter.core.diagnostics import Diagnostic
from carpenter.report.github import GithubReporter, escape_data, escape_property
from carpenter.report.interface import SourceCache, get_reporter
from carpenter.report.sarif import FINGERPRINT_KEY, SarifReporter, rule_descriptor
from carpenter.report.text import TextReporter
from carpenter.scan.config import ScanConfig
from carpenter.scan.engine import ScanReport
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule, all_rules

ROOT = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = json.loads((ROOT / "tests/data/sarif-schema-2.1.0.json").read_text())
SARIF_VALIDATOR = jsonschema.validators.validator_for(SARIF_SCHEMA)(SARIF_SCHEMA)
TOKEN = "hf_" + "Zq8rT2vX9wLmN4pK7sB1cD5fG3hJ6kQ0aE"  # fake, but shaped like a real HF token
BROKEN = f"FROM python:3.11\nRUN apt-get update\n    huggingface-cli login --token {TOKEN}\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Dockerfile").write_text(BROKEN)
    return tmp_path


def sarif_of(capsys, *paths: str) -> dict:
    code, out, _ = run(capsys, "scan", *paths, "--format", "sarif")
    assert code in (1, 2)
    document = json.loads(out)
    errors = sorted(SARIF_VALIDATOR.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    return document


def df002(document: dict) -> dict:
    return next(r for r in document["runs"][0]["results"] if r["ruleId"] == "DF002")


# ---------------------------------------------------------------------------------------------
# SARIF


def test_sarif_is_valid_and_complete(work: Path, capsys) -> None:
    document = sarif_of(capsys, "sub", "missing/Dockerfile")
    assert document["version"] == "2.1.0"
    run_ = document["runs"][0]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "carpenter"
    assert run_["automationDetails"]["id"].startswith("carpenter/")
    rules = driver["rules"]
    selected = {key for key, rule in all_rules().items() if ScanConfig().selects(rule)}
    assert {r["id"] for r in rules} >= selected  # every selected rule is documented
    for rule in rules:
        assert rule["shortDescription"]["text"]
        assert rule["fullDescription"]["text"]
        assert "## Why it matters" in rule["help"]["markdown"]
        assert rule["helpUri"].startswith("https://")
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
        assert rule["properties"]["tags"]
    result = df002(document)
    assert rules[result["ruleIndex"]]["id"] == "DF002"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "sub/Dockerfile", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 3, "startColumn": 5, "endLine": 3,
                                  "endColumn": 20}
    assert result["level"] == "error"
    invocation = run_["invocations"][0]
    assert invocation["executionSuccessful"] is False
    [note] = invocation["toolExecutionNotifications"]
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "missing/Dockerfile"
    )


def test_sarif_fingerprint_follows_content_not_line_number(work: Path, capsys) -> None:
    first = df002(sarif_of(capsys, "sub"))["partialFingerprints"][FINGERPRINT_KEY]
    assert first == df002(sarif_of(capsys, "sub"))["partialFingerprints"][FINGERPRINT_KEY]
    text = BROKEN.replace("RUN apt-get update\n", "RUN apt-get update\n\n# a comment\n\n")
    (work / "sub" / "Dockerfile").write_text(text)
    moved = df002(sarif_of(capsys, "sub"))
    # The unknown instruction moved down; the fingerprint did not change.
    assert moved["locations"][0]["physicalLocation"]["region"]["startLine"] == 6
    assert moved["partialFingerprints"][FINGERPRINT_KEY] == first
    (work / "sub" / "Dockerfile").write_text(BROKEN.replace("apt-get update\n", "true\n"))
    unchanged_line = df002(sarif_of(capsys, "sub"))["partialFingerprints"][FINGERPRINT_KEY]
    assert unchanged_line == first
    (work / "sub" / "Dockerfile").write_text(BROKEN.replace("--token", "--token  --x"))
    changed = df002(sarif_of(capsys, "sub"))["partialFingerprints"][FINGERPRINT_KEY]
    assert changed != first


def test_sarif_uri_outside_the_working_directory(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "Dockerfile").write_text(BROKEN)
    monkeypatch.chdir(tmp_path / "repo")
    document = sarif_of(capsys, str(tmp_path / "elsewhere"))
    location = df002(document)["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location["uri"] == (tmp_path / "elsewhere" / "Dockerfile").as_uri()
    assert "uriBaseId" not in location


def test_sarif_related_location_for_a_download_in_a_script(tmp_path: Path, capsys,
                                                           monkeypatch) -> None:
    """DL001 found by following `RUN python download.py` points at the script's line too."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub" / "tools").mkdir(parents=True)
    (tmp_path / "sub" / "Dockerfile").write_text(
        "FROM python:3.11\nCOPY tools /app/tools\nRUN python /app/tools/fetch.py\n")
    (tmp_path / "sub" / "tools" / "fetch.py").write_text(
        "from huggingface_hub import snapshot_download\n\n"
        "snapshot_download('mistralai/Mistral-7B-v0.1')\n")
    document = sarif_of(capsys, "sub", "--select", "DL001")
    result = next(r for r in document["runs"][0]["results"] if r["ruleId"] == "DL001")
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 3
    (related,) = result["relatedLocations"]
    assert related["physicalLocation"]["artifactLocation"]["uri"] == "sub/tools/fetch.py"
    assert related["physicalLocation"]["region"] == {"startLine": 3}
    assert "[in the script](1)" in result["message"]["text"]
    assert related["id"] == 1


def test_secret_rules_carry_security_severity() -> None:
    class Leak(Rule):
        """Report a token.

        ## What it does
        x
        ## Why it matters
        y
        ## Example
        z
        ## Fix
        w
        """

        id = "SEC999"
        name = "test-leak"
        category = "secret"
        severity = "error"

    descriptor = rule_descriptor(Leak)
    assert "security" in descriptor["properties"]["tags"]
    assert 7.0 <= float(descriptor["properties"]["security-severity"]) <= 10.0
    assert descriptor["shortDescription"]["text"] == "Report a token."
    for rule in all_rules().values():
        props = rule_descriptor(rule)["properties"]
        assert ("security-severity" in props) == (rule.category == "secret"), rule.id


# ---------------------------------------------------------------------------------------------
# GitHub workflow commands


def finding(severity: str, line: int, message: str = "m", path: str = "a/Dockerfile") -> Finding:
    return Finding("DF002", "unknown-instruction", "shell-bug", severity, path, line, line,
                   2, 6, message, "do x")


def test_github_escaping() -> None:
    assert escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"


def test_github_most_severe_first_and_levels() -> None:
    report = ScanReport(
        files=["a/Dockerfile"],
        findings=[finding("info", 1), finding("warning", 2), finding("error", 3, "x:y,\nz")],
        errors=[Diagnostic("b,c/Dockerfile", None, "binary file")],
        config=ScanConfig(),
    )
    lines = GithubReporter().render(report).splitlines()
    assert lines[0] == ("::error file=b%2Cc/Dockerfile,title=carpenter could not scan this "
                        "file::binary file")
    assert lines[1] == ("::error file=a/Dockerfile,line=3,endLine=3,col=2,endColumn=6,"
                        "title=DF002 unknown-instruction::x:y,%0Az%0AFix: do x")
    assert lines[2].startswith("::warning file=a/Dockerfile,line=2,")
    assert lines[3].startswith("::notice file=a/Dockerfile,line=1,")


# ---------------------------------------------------------------------------------------------
# Redaction: no format prints a full secret


def test_no_format_prints_the_token(work: Path, capsys) -> None:
    for fmt in ("text", "json", "sarif", "github"):
        code, out, err = run(capsys, "scan", "sub", "--format", fmt)
        assert code == 1, fmt
        assert TOKEN not in out + err, fmt
    _, text, _ = run(capsys, "scan", "sub", "--select", "DF002")
    assert "hf_Zq8r..." in text  # the frame shows the line, with the token masked


def test_text_masks_secret_findings_redact_does_not_know(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    password = "correct-horse-battery-staple-42"
    text = f"FROM python:3.11\nENV DB_PASSWORD={password}\n"
    (tmp_path / "Dockerfile").write_text(text)
    start = text.index(password)
    secret = Finding("SEC001", "secret-in-env", "secret", "error", "Dockerfile", 2, 2,
                     start - text.index("ENV") + 1, start - text.index("ENV") + 1 + len(password),
                     "a password is baked into the image", "use a build secret",
                     offset=start, end_offset=start + len(password))
    other = Finding("DF999", "other", "shell-bug", "warning", "Dockerfile", 2, 2, 1, 4, "other")
    report = ScanReport(["Dockerfile"], [secret, other], [], ScanConfig())
    for reporter in (TextReporter(), get_reporter("json"), SarifReporter(), GithubReporter()):
        assert password not in reporter.render(report), reporter.name


def test_plain_text_equals_what_rich_prints_without_colour(tmp_path: Path,
                                                          monkeypatch) -> None:
    """Plain output is built without rich; it must be the text rich printed before (file
    blocks never went through rich without colour: their tabs stay, so none here)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Dockerfile").write_text("FROM python:3.11\nRUN\tpip install 漢字 torch\n")
    findings = [Finding("PIP001", "pip-unpinned", "unpinned-pip", "warning", "Dockerfile", 2, 2,
                        5, 8, "message with 漢字 and  spaces ", "pin it", offset=21, end_offset=24),
                Finding("DF999", "other", "shell-bug", "error", "Dockerfile", 1, 2, 1, 4, "x")]
    errors = [Diagnostic("Dockerfile", 3, "tab\there 漢\tx"),
              Diagnostic("Dockerfile", None, "plain")]
    report = ScanReport(["Dockerfile"], findings, errors, ScanConfig())
    reporter = TextReporter(color=False, width=100)
    sources = SourceCache()
    blocks = [reporter._file("Dockerfile", findings, sources)]
    blocks += [[reporter._error(e)] for e in errors] + [[reporter._summary(report)]]
    assert reporter.render(report) == reporter._rich(blocks, color=False)


# ---------------------------------------------------------------------------------------------
# The whole fixture set, every format


def test_every_format_on_all_fixtures(capsys, monkeypatch) -> None:
    from carpenter.model.source import read_source
    from carpenter.scan.engine import ScanOptions, scan_paths

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    report = scan_paths(["fixtures"], ScanOptions())
    assert report.findings
    secrets = set()
    for f in report.findings:
        if f.category == "secret" and f.end_offset > f.offset:
            value = read_source(f.path).text[f.offset : f.end_offset]
            if len(value) >= 12 and not any(c.isspace() for c in value):
                secrets.add(value)
    assert secrets  # the fixtures do contain secrets
    outputs = {}
    for fmt in ("text", "json", "sarif", "github"):
        _, outputs[fmt], _ = run(capsys, "scan", "fixtures", "--format", fmt)
        leaked = [s[:6] for s in secrets if s in outputs[fmt]]
        assert not leaked, (fmt, leaked)
    document = json.loads(outputs["sarif"])
    errors = list(SARIF_VALIDATOR.iter_errors(document))
    assert not errors, [e.message for e in errors[:3]]
    results = document["runs"][0]["results"]
    assert len(results) == len(report.findings)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert any(uri.endswith("requirements.txt") for uri in uris)  # context files, repo-relative
    assert all(uri.startswith("fixtures/") for uri in uris)
    fingerprints = [r["partialFingerprints"][FINGERPRINT_KEY] for r in results]
    assert len(set(fingerprints)) == len(fingerprints)
    data = json.loads(outputs["json"])
    schema = ROOT / "carpenter/data/schemas/scan.schema.json"
    jsonschema.validate(data, json.loads(schema.read_text()))
    assert len(data["findings"]) == len(report.findings)
    assert outputs["github"].count("\n::") + 1 >= len(report.findings)


def test_json_output_is_byte_identical_to_json_dumps_with_indent():
    from carpenter.report.json import report_dict
    from carpenter.scan.engine import ScanOptions, scan_paths

    report = scan_paths([str(ROOT / "fixtures" / "submissions")], ScanOptions())
    # Values that could confuse the separator trick: a "}, {" and a newline inside strings.
    report.findings.append(Finding("X001", "x", "secret", "info", "a\n}, {b", 1, 1, 1, 1,
                                   'm "}\n,\n      {" é\u2028', "hint\n    },"))
    report.errors.append(Diagnostic("p", None, "}, {\n"))
    for candidate in (report, ScanReport()):
        expected = json.dumps(report_dict(candidate), indent=2, ensure_ascii=False) + "\n"
        assert get_reporter("json").render(candidate) == expected
