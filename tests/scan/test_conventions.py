"""What ruff and hadolint users expect: per-file config discovery, unknown keys with their
line, --exit-zero / fail-on none, --statistics, --output-format names, `scan -`, exclude and
per-file-ignores, `noqa:` comments, fix --select/--ignore."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from carpenter.cli import main

UNKNOWN = "FROM python:3.11\nRUN apt-get update\n    pip install torch\n"  # DF002 at line 3


def run(capsys, *args: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as info:
        main([*args])
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.fixture()
def tree(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Dockerfile").write_text(UNKNOWN)
    return tmp_path


def rules_by_path(out: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for item in json.loads(out)["findings"]:
        found.setdefault(item["path"], set()).add(item["rule"])
    return found


def test_each_file_gets_the_nearest_config(tree: Path, capsys) -> None:
    (tree / "a" / ".carpenter.toml").write_text('ignore = ["DF002"]\n')
    # Before: the first path's config applied to every path (b lost DF002 too, or a kept it).
    for order in (("a", "b"), ("b", "a")):
        _, out, _ = run(capsys, "scan", *order, "--format", "json", "--no-cache")
        found = rules_by_path(out)
        assert "DF002" not in found.get("a/Dockerfile", set())
        assert "DF002" in found["b/Dockerfile"]


def test_unknown_config_key_is_an_error_with_its_line(tree: Path, capsys) -> None:
    (tree / "a" / ".carpenter.toml").write_text('select = ["ALL"]\n\nignores = ["DF002"]\n')
    code, _, err = run(capsys, "scan", "a", "--no-cache")
    assert code == 2
    assert "unknown setting 'ignores'" in err and ".carpenter.toml:3" in err
    (tree / "b" / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.carpenter]\nfail-on = "error"\nselct = ["DF"]\n')
    code, _, err = run(capsys, "scan", "b", "--no-cache")
    assert code == 2 and "'selct'" in err and "pyproject.toml:6" in err


def test_exclude_and_per_file_ignores(tree: Path, capsys) -> None:
    (tree / ".carpenter.toml").write_text(
        'exclude = ["b/"]\n[per-file-ignores]\n"a/Dockerfile" = ["DF002"]\n')
    (tree / "c").mkdir()
    (tree / "c" / "Dockerfile").write_text(UNKNOWN)
    code, out, _ = run(capsys, "scan", ".", "--format", "json", "--no-cache")
    found = rules_by_path(out)
    assert "b/Dockerfile" not in json.loads(out)["files"]  # excluded folder
    assert "DF002" not in found.get("a/Dockerfile", set())  # per-file ignore
    assert "DF002" in found["c/Dockerfile"] and code == 1
    # A file named on the command line is scanned even when excluded (as ruff does).
    _, out, _ = run(capsys, "scan", "b/Dockerfile", "--format", "json", "--no-cache")
    assert "DF002" in rules_by_path(out)["b/Dockerfile"]


def test_exit_zero_and_fail_on_none(tree: Path, capsys) -> None:
    assert run(capsys, "scan", "a", "--no-cache")[0] == 1
    assert run(capsys, "scan", "a", "--no-cache", "--exit-zero")[0] == 0
    assert run(capsys, "scan", "a", "--no-cache", "--fail-on", "none")[0] == 0
    (tree / "a" / ".carpenter.toml").write_text('fail-on = "none"\n')
    assert run(capsys, "scan", "a", "--no-cache")[0] == 0
    # --exit-zero never hides a file that could not be scanned.
    assert run(capsys, "scan", "missing", "--exit-zero", "--no-cache")[0] == 2


def test_statistics(tree: Path, capsys) -> None:
    _, out, _ = run(capsys, "scan", "a", "b", "--statistics", "--no-cache")
    line = next(row for row in out.splitlines() if "DF002" in row)
    assert line.split()[0] == "2"
    assert "Dockerfile:" not in out  # counts, not the findings


def test_output_format_names(tree: Path, capsys) -> None:
    _, out, _ = run(capsys, "scan", "a", "--output-format", "concise", "--no-cache")
    assert "a/Dockerfile:3:5: DF002 [error]" in out
    _, out, _ = run(capsys, "scan", "a", "--output-format", "json-lines", "--no-cache")
    rows = [json.loads(row) for row in out.splitlines()]
    assert any(row.get("rule") == "DF002" for row in rows)
    _, out, _ = run(capsys, "scan", "a", "--output-format", "gitlab", "--no-cache")
    issue = next(i for i in json.loads(out) if i["check_name"] == "DF002")
    assert issue["location"] == {"path": "a/Dockerfile", "lines": {"begin": 3}}
    assert issue["severity"] == "critical" and len(issue["fingerprint"]) == 32
    _, out, _ = run(capsys, "scan", "a", "--output-format", "junit", "--no-cache")
    suite = ET.fromstring(out).find("testsuite")
    assert suite is not None and int(suite.get("failures")) >= 1
    _, out, _ = run(capsys, "scan", "a", "--output-format", "checkstyle", "--no-cache")
    error = ET.fromstring(out).find("file/error[@source='carpenter.DF002']")
    assert error is not None and error.get("line") == "3"
    _, full, _ = run(capsys, "scan", "a", "--output-format", "full", "--no-cache")
    _, text, _ = run(capsys, "scan", "a", "--format", "text", "--no-cache")
    assert full == text and "DF002" in full


def test_scan_reads_standard_input(tree: Path, capsys, monkeypatch) -> None:
    code, out, _ = run(capsys, "scan", "-", "--stdin-filename", "a/Dockerfile.dev",
                       "--format", "json", stdin=UNKNOWN, monkeypatch=monkeypatch)
    assert code == 1
    data = json.loads(out)
    assert data["files"] == ["a/Dockerfile.dev"]
    assert {f["path"] for f in data["findings"]} == {"a/Dockerfile.dev"}
    # The stdin file gets the config of the folder it is named in.
    (tree / "a" / ".carpenter.toml").write_text('ignore = ["DF002"]\n')
    _, out, _ = run(capsys, "scan", "-", "--stdin-filename", "a/Dockerfile",
                    "--format", "json", stdin=UNKNOWN, monkeypatch=monkeypatch)
    assert "DF002" not in {f["rule"] for f in json.loads(out)["findings"]}


def test_noqa_comment_silences_the_named_rule(tree: Path, capsys) -> None:
    (tree / "a" / "Dockerfile").write_text(
        "FROM python:3.11\n# noqa: PIP001\nRUN pip install torch\n")
    (tree / "b" / "Dockerfile").write_text("FROM python:3.11\n# noqa\nRUN pip install torch\n")
    _, out, _ = run(capsys, "scan", "a", "b", "--format", "json", "--no-cache")
    found = rules_by_path(out)
    assert "PIP001" not in found.get("a/Dockerfile", set())
    assert "PIP001" in found["b/Dockerfile"]  # a bare noqa names no rule: silences nothing


def test_fix_select_and_ignore(tree: Path, capsys) -> None:
    (tree / "a" / "Dockerfile").write_text(
        "FROM python:3.11\nRUN pip install torch && apt-get install -y curl\n")
    _, every, _ = run(capsys, "fix", "a", "--format", "json", "--offline")
    rules = {r["rule"] for r in json.loads(every)["applied"]}
    assert "PIP001" in rules and len(rules) > 1
    _, only, _ = run(capsys, "fix", "a", "--format", "json", "--offline", "--select", "PIP001")
    assert {r["rule"] for r in json.loads(only)["applied"]} == {"PIP001"}
    _, rest, _ = run(capsys, "fix", "a", "--format", "json", "--offline", "--ignore", "PIP")
    assert "PIP001" not in {r["rule"] for r in json.loads(rest)["applied"]}
    code, _, err = run(capsys, "fix", "a", "--select", "PIPX01", "--offline")
    assert code == 2 and "unknown rule" in err


def test_unsafe_fixes_are_marked_and_can_be_left_out(tree: Path, capsys) -> None:
    token = "hf_" + "Zq8rT2vX9wLmN4pK7sB1cD5fG3hJ6kQ0aE"
    (tree / "a" / "Dockerfile").write_text(
        f"FROM python:3.11\nENV HF_TOKEN={token}\nRUN pip install torch\n")
    _, out, err = run(capsys, "fix", "a", "--format", "json", "--offline")
    data = json.loads(out)
    secret = next(r for r in data["applied"] if r["category"] == "secret")
    assert "token" in secret["unsafe"]
    assert all(not r["unsafe"] for r in data["applied"] if r["category"] == "unpinned-pip")
    _, out, err = run(capsys, "fix", "a", "--offline", "--no-unsafe-fixes")
    assert "torch==" in out and "-ENV HF_TOKEN" not in out
    assert "unsafe fix left out" in err and token not in out + err
    _, _, err = run(capsys, "fix", "a", "--offline")
    assert "[unsafe]" in err and token not in err
