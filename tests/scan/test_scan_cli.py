"""`carpenter scan/rules/explain`: exit codes, configuration precedence, output plumbing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from carpenter.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "carpenter/data/schemas/scan.schema.json").read_text())

# DF002 (unknown instruction) fires on line 3; DF rules are the lead's core rules, so these
# tests do not depend on the pinning/secret rules that land separately.
BROKEN = "FROM python:3.11\nRUN apt-get update\n    pip install torch\n"
CLEAN = "FROM scratch\n"
DF = ["--select", "DF001,DF002"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "Dockerfile").write_text(BROKEN)
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "Dockerfile").write_text(CLEAN)
    return tmp_path


def as_json(out: str) -> dict:
    data = json.loads(out)
    jsonschema.validate(data, SCHEMA)
    return data


def test_exit_0_on_clean_file(work: Path, capsys) -> None:
    code, out, _ = run(capsys, "scan", "good", *DF)
    assert code == 0
    assert "0 findings in 1 file" in out


def test_exit_1_on_findings_and_relative_paths(work: Path, capsys) -> None:
    code, out, _ = run(capsys, "scan", ".", *DF, "--format", "json")
    data = as_json(out)
    assert code == 1
    assert sorted(data["files"]) == ["bad/Dockerfile", "good/Dockerfile"]
    df002 = [f for f in data["findings"] if f["rule"] == "DF002"]
    assert len(df002) == 1
    assert (df002[0]["path"], df002[0]["line"], df002[0]["column"]) == ("bad/Dockerfile", 3, 5)


def test_absolute_input_gives_absolute_paths(work: Path, capsys) -> None:
    code, out, _ = run(capsys, "scan", str(work / "bad"), *DF, "--format", "json")
    data = as_json(out)
    assert code == 1
    assert data["findings"][0]["path"] == str(work / "bad" / "Dockerfile")


def test_exit_2_for_missing_file_still_reports_the_others(work: Path, capsys) -> None:
    code, out, _ = run(capsys, "scan", "bad", "nope/Dockerfile", *DF, "--format", "json")
    data = as_json(out)
    assert code == 2
    assert [e["path"] for e in data["errors"]] == ["nope/Dockerfile"]
    assert any(f["rule"] == "DF002" for f in data["findings"])


def test_folder_without_dockerfiles_is_an_error(work: Path, capsys) -> None:
    (work / "empty").mkdir()
    code, out, _ = run(capsys, "scan", "empty", "--format", "json")
    assert code == 2
    assert "no Dockerfile found" in as_json(out)["errors"][0]["message"]


def test_fail_on_and_severity_override_from_config_file(work: Path, capsys) -> None:
    (work / ".carpenter.toml").write_text('fail-on = "warning"\n[severity]\nDF002 = "info"\n')
    code, out, _ = run(capsys, "scan", "bad", *DF, "--format", "json")
    data = as_json(out)
    assert [f["severity"] for f in data["findings"] if f["rule"] == "DF002"] == ["info"]
    assert code == 0  # info is below the file's fail-on
    code, _, _ = run(capsys, "scan", "bad", *DF, "--fail-on", "info")
    assert code == 1  # the command line beats the file


def test_ignore_in_pyproject(work: Path, capsys) -> None:
    (work / "pyproject.toml").write_text('[tool.carpenter]\nignore = ["unknown-instruction"]\n')
    code, out, _ = run(capsys, "scan", "bad", *DF, "--format", "json")
    assert code == 0
    assert not [f for f in as_json(out)["findings"] if f["rule"] == "DF002"]


def test_explicit_config_file_and_profile(work: Path, capsys, monkeypatch) -> None:
    rules = work / "rules-data"
    (rules / "profiles").mkdir(parents=True)
    (rules / "profiles" / "lenient.toml").write_text('fail-on = "error"\nignore = ["DF002"]\n')
    monkeypatch.setenv("CARPENTER_RULES_DIR", str(rules))
    code, _, _ = run(capsys, "scan", "bad", *DF, "--profile", "lenient")
    assert code == 0
    # A config file is applied over the profile: it re-selects DF002 by replacing ignore.
    (work / "strict.toml").write_text('profile = "lenient"\nignore = []\n')
    code, _, _ = run(capsys, "scan", "bad", *DF, "--config", "strict.toml", "--fail-on", "error")
    assert code == 1
    code, _, err = run(capsys, "scan", "bad", "--profile", "nosuch")
    assert code == 2
    assert "unknown profile" in err and "lenient" in err


def test_broken_config_file_is_a_located_error(work: Path, capsys) -> None:
    (work / ".carpenter.toml").write_text('fail-on = "sometimes"\n')
    code, _, err = run(capsys, "scan", "bad")
    assert code == 2
    assert ".carpenter.toml" in err and "sometimes" in err
    (work / ".carpenter.toml").write_text("select = [\n")
    code, _, err = run(capsys, "scan", "bad")
    assert code == 2
    assert "cannot read configuration" in err and "Traceback" not in err


def test_context_option_moves_the_build_context(work: Path, capsys) -> None:
    (work / "df").mkdir()
    (work / "df" / "Dockerfile").write_text("FROM scratch\nCOPY model.bin /m/\n")
    (work / "ctx").mkdir()
    (work / "ctx" / "model.bin").write_text("weights")
    _, without, _ = run(capsys, "scan", "df", "--format", "json")
    _, with_ctx, _ = run(capsys, "scan", "df", "--context", "ctx", "--format", "json")
    missing = [f["rule"] for f in as_json(without)["findings"] if "model.bin" in f["message"]]
    assert missing  # the Dockerfile's own folder lacks model.bin
    assert not [f for f in as_json(with_ctx)["findings"] if "model.bin" in f["message"]]


def test_unknown_rule_key_is_a_usage_error(work: Path, capsys) -> None:
    code, _, err = run(capsys, "scan", "bad", "--select", "DF0002")
    assert code == 2
    assert "unknown rule" in err and "DF002" in err
    assert "Traceback" not in err


def test_bad_options_are_usage_errors(work: Path, capsys) -> None:
    assert run(capsys, "scan", "bad", "--build-arg", "=x")[0] == 2
    assert run(capsys, "scan", "bad", "--format", "xml")[0] == 2
    assert run(capsys, "scan", "bad", "--context", "nowhere")[0] == 2
    assert run(capsys, "scan")[0] == 2


def test_build_arg_resolves_from(work: Path, capsys) -> None:
    (work / "arg").mkdir()
    (work / "arg" / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nRUN true\n")
    code, out, _ = run(capsys, "scan", "arg", *DF, "--build-arg", "BASE=python:3.11",
                       "--format", "json")
    assert code == 0, out


def test_output_file_is_written_atomically(work: Path, capsys) -> None:
    code, out, err = run(capsys, "scan", "bad", *DF, "--format", "json", "-o", "report.json")
    assert code == 1
    assert out == ""
    assert "report.json" in err
    assert as_json((work / "report.json").read_text())["findings"]
    assert not [p for p in os.listdir(work) if p.startswith(".carpenter-")]
    # An unwritable destination: exit 2, and no partial file anywhere.
    code, _, err = run(capsys, "scan", "bad", "--format", "json", "-o", "missing/dir/r.json")
    assert code == 2
    assert "cannot write output" in err
    assert not (work / "missing").exists()


def test_output_replaces_an_existing_report(work: Path, capsys) -> None:
    (work / "r.txt").write_text("old report\n")
    run(capsys, "scan", "good", *DF, "-o", "r.txt")
    assert (work / "r.txt").read_text().startswith("0 findings")


def test_output_to_a_device_or_symlink(work: Path, capsys) -> None:
    code, _, _ = run(capsys, "scan", "bad", *DF, "-o", os.devnull)
    assert code == 1
    assert Path(os.devnull).is_char_device()  # written through, not replaced by a file
    (work / "reports").mkdir()
    (work / "latest.json").symlink_to("reports/r.json")
    run(capsys, "scan", "bad", *DF, "--format", "json", "-o", "latest.json")
    assert (work / "latest.json").is_symlink()
    assert as_json((work / "reports" / "r.json").read_text())["findings"]


def test_parallel_jobs_give_identical_results(work: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("carpenter.scan.engine.POOL_FILES_PER_JOB", 1)  # a pool for 12 files
    for i in range(12):
        (work / f"s{i}").mkdir()
        (work / f"s{i}" / "Dockerfile").write_text(BROKEN if i % 2 else CLEAN)
    _, serial, _ = run(capsys, "scan", ".", *DF, "--format", "json", "--jobs", "1")
    _, parallel, _ = run(capsys, "scan", ".", *DF, "--format", "json", "--jobs", "3")
    assert json.loads(serial) == json.loads(parallel)
    assert len(json.loads(serial)["findings"]) >= 7


def test_text_output_code_frame(work: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    code, out, _ = run(capsys, "scan", "bad", *DF)
    assert code == 1
    assert "\x1b[" not in out
    lines = out.splitlines()
    assert lines[0] == "bad/Dockerfile"
    frame = next(i for i, line in enumerate(lines) if "│     pip install torch" in line)
    caret = lines[frame + 1]
    # The caret sits under `pip` (column 5) and spans the keyword.
    bar = lines[frame].index("│")
    assert caret.index("│") == bar
    assert caret.index("^") == lines[frame].index("pip")
    assert caret.count("^") == 3
    assert "DF002 unknown-instruction" in out
    assert "fix:" in out
    assert lines[-1].startswith("1 finding")


def test_color_always_emits_ansi(work: Path, capsys) -> None:
    _, out, _ = run(capsys, "scan", "bad", *DF, "--color", "always")
    assert "\x1b[" in out


def test_github_step_summary(work: Path, capsys, monkeypatch) -> None:
    summary = work / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out, _ = run(capsys, "scan", "bad", *DF, "--format", "github")
    assert code == 1
    assert out.startswith("::error file=bad/Dockerfile,line=3,")
    assert "| error | `DF002` unknown-instruction |" in summary.read_text()


def test_rules_and_explain(work: Path, capsys) -> None:
    code, out, _ = run(capsys, "rules", "--format", "json")
    assert code == 0
    catalogue = {r["id"]: r for r in json.loads(out)}
    assert catalogue["DF002"]["name"] == "unknown-instruction"
    for rule in catalogue.values():
        assert rule["what"] and rule["why"] and rule["example"] and rule["fix"], rule["id"]
    code, out, _ = run(capsys, "rules")
    assert code == 0 and "DF001" in out
    code, by_id, _ = run(capsys, "explain", "df002")
    assert code == 0
    assert "## Why it matters" in by_id
    _, by_name, _ = run(capsys, "explain", "unknown-instruction")
    assert by_name == by_id
    code, _, err = run(capsys, "explain", "unknown-instructoin")
    assert code == 2
    assert "did you mean" in err and "unknown-instruction" in err
