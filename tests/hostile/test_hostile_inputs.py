"""Hostile Dockerfiles: no crash, no runaway, and a located finding where a check gave up.

Each test fails without its fix (RecursionError, gigabytes of expansion, quadratic regexes,
an unbounded parse). Timings live in bench/hostile_bench.py, never here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from carpenter.core.redact import safe_text
from carpenter.core.shapes import find_secrets
from carpenter.model import dockerfile as model
from carpenter.model.dockerfile import parse_dockerfile
from carpenter.model.shell import TOO_DEEP, run_commands
from carpenter.model.source import SourceFile
from carpenter.model.variables import MAX_EXPANDED, expand
from carpenter.scan.config import ScanConfig
from carpenter.scan.engine import ScanOptions, scan_paths

HEAD = "FROM python:3.11@sha256:" + "a" * 64 + "\n"


def _scan(tmp_path: Path, text: str, *select: str) -> tuple[list, list]:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    config = ScanConfig(select=select) if select else ScanConfig()
    report = scan_paths([str(path)], ScanOptions(config=config))
    return report.findings, report.errors


def test_thousand_command_chain_is_parsed_whole(tmp_path: Path) -> None:
    chain = " && ".join(f"echo {i}" for i in range(1000)) + " && pip install torch"
    df = parse_dockerfile(SourceFile("Dockerfile", HEAD + "RUN " + chain + "\n"))
    commands = run_commands(df.instructions[1])
    assert len(commands) == 1001 and commands[-1][1].argv == ["pip", "install", "torch"]
    findings, errors = _scan(tmp_path, HEAD + "RUN " + chain + "\n")
    assert errors == []  # no rule crashed
    assert any(f.rule == "PIP001" for f in findings)  # the last command was checked


@pytest.mark.parametrize("script", [
    "( " * 1000 + "echo hi" + " )" * 1000,
    "echo " + "$( echo " * 500 + "hi" + " )" * 500,
])
def test_deep_nesting_is_a_located_finding(tmp_path: Path, script: str) -> None:
    findings, errors = _scan(tmp_path, HEAD + "RUN " + script + "\n")
    assert errors == []
    [sh006] = [f for f in findings if f.rule == "SH006"]
    assert sh006.line == 2 and TOO_DEEP.split(":")[0] in sh006.message


def test_exponential_expansion_is_bounded_and_located(tmp_path: Path) -> None:
    text = HEAD + "ENV A=x\n" + "ENV A=${A}${A}${A}\n" * 18 + "RUN echo $A\n"
    df = parse_dockerfile(SourceFile("Dockerfile", text))
    problems = [p for p in df.problems if "expanding" in p.message]
    assert problems and problems[0].line == 2 + 11  # 3**11 > 65,536 after 11 triplings
    assert all(len(v or "") <= MAX_EXPANDED for v in df.instructions[-1].vars.values())
    findings, errors = _scan(tmp_path, text, "DF001")
    assert errors == [] and any("expanding" in f.message for f in findings)


def test_expand_returns_text_unexpanded_when_too_large() -> None:
    value, missing = expand("${A}" * 100, {"A": "x" * 1000})
    assert value == "${A}" * 100 and missing == {"A"}
    assert expand("${A}-$B", {"A": "1", "B": "2"}) == ("1-2", set())


def test_large_file_checks_its_beginning_and_says_so(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "MAX_INSTRUCTIONS", 50)
    text = HEAD + "RUN pip install torch\n" * 200
    df = parse_dockerfile(SourceFile("Dockerfile", text))
    assert df.truncated and len(df.instructions) == 50
    assert df.problems[-1].line == 51 and "too large to check" in df.problems[-1].message
    findings, _ = _scan(tmp_path, text, "DF001", "PIP001")
    assert any(f.rule == "DF001" and "too large" in f.message for f in findings)
    assert max(f.line for f in findings if f.rule == "PIP001") <= 50


def test_comment_bulk_does_not_count_against_the_bound() -> None:
    text = HEAD + "# note\n" * (model.MAX_CHECKED_LINES * 3) + "RUN pip install torch\n"
    df = parse_dockerfile(SourceFile("Dockerfile", text))
    assert not df.truncated and df.instructions[-1].keyword == "RUN"


def test_rule_time_budget_turns_into_not_fully_checked(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARPENTER_FILE_BUDGET_S", "0")
    _, errors = _scan(tmp_path, HEAD + "RUN pip install torch\n")
    assert errors and "not fully checked" in errors[0]["message"]
    assert "rules not run" in errors[0]["message"]


@pytest.mark.parametrize(("text", "secret"), [
    ("git clone https://:Xk29fjQp8LmZr4TyWv7N@huggingface.co/a/b", "Xk29fjQp8LmZr4TyWv7N"),
    ("git clone https://0123456789abcdef0123456789abcdef01234567@github.com/a/b",
     "0123456789abcdef0123456789abcdef01234567"),
    ("curl 'https://h.example/x.bin?token=Qz8wX6vU4tS2rQ0p'", "Qz8wX6vU4tS2rQ0p"),
    ("curl https://h.example/x?v=1&access_token=Qz8wX6vU4tS2rQ0pLm", "Qz8wX6vU4tS2rQ0pLm"),
])
def test_url_credentials_of_every_form_are_found_and_masked(text: str, secret: str) -> None:
    assert [h.value for h in find_secrets(text)] == [secret]
    assert secret not in safe_text(text)


@pytest.mark.parametrize("text", ["git@github.com:a/b.git", "https://oauth2@gitlab.com/x",
                                  "https://h/x?token=$HF_TOKEN", "https://h/?page=2&key=abc"])
def test_url_forms_without_a_secret_stay_readable(text: str) -> None:
    assert find_secrets(text) == [] and safe_text(text) == text


def test_long_line_with_url_password_is_masked() -> None:
    """Quadratic before: the scheme regex restarted at every letter of a long word."""
    text = "RUN echo " + "a" * 200_000 + " https://user:Xk29fjQp8LmZr4TyWv7N@host/x"
    masked = safe_text(text)
    assert " https://user:****" in masked and "Xk29fjQp8LmZr4TyWv7N" not in masked
