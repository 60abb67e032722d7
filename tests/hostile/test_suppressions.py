"""Inline suppressions never hide a leaked token from whoever scans someone else's code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carpenter.cli import main

TOKEN = "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"
DOCKERFILE = f"""\
FROM python:3.11@sha256:{'a' * 64}
# carpenter: ignore[SEC001] it is only a test token
ENV HF_HOME=/cache HUGGINGFACE_TOKEN={TOKEN}
# carpenter: ignore[SH004]
RUN echo ok
"""


def _scan(capsys: pytest.CaptureFixture[str], path: Path, *extra: str) -> tuple[int, dict]:
    with pytest.raises(SystemExit) as exit_info:
        main(["scan", str(path), "--format", "json", "--no-cache", "--select", "SEC001",
              *extra])
    return exit_info.value.code, json.loads(capsys.readouterr().out)


@pytest.fixture()
def dockerfile(tmp_path: Path) -> Path:
    path = tmp_path / "Dockerfile"
    path.write_text(DOCKERFILE)
    return path


def test_honoured_suppression_is_reported(dockerfile: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _scan(capsys, dockerfile)
    assert code == 0 and report["findings"] == []
    assert report["suppressed"] == [{"rule": "SEC001", "path": str(dockerfile), "line": 3}]
    with pytest.raises(SystemExit):
        main(["scan", str(dockerfile), "--no-cache", "--select", "SEC001", "--color", "never"])
    assert "1 suppressed by inline comments" in capsys.readouterr().out


def test_ignore_pragmas_reports_the_token(dockerfile: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _scan(capsys, dockerfile, "--ignore-pragmas")
    assert code == 1 and [f["rule"] for f in report["findings"]] == ["SEC001"]
    assert report["suppressed"] == []


def test_competition_profile_ignores_secret_suppressions_only(
        dockerfile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _scan(capsys, dockerfile, "--profile", "neurips-2023")
    assert code == 1 and [f["rule"] for f in report["findings"]] == ["SEC001"]
    dockerfile.write_text("# carpenter: ignore[IMG]\nFROM python:3.11\n" + DOCKERFILE)
    with pytest.raises(SystemExit):
        main(["scan", str(dockerfile), "--format", "json", "--no-cache", "--profile",
              "neurips-2023", "--select", "SEC001,IMG"])
    report = json.loads(capsys.readouterr().out)
    assert [f["rule"] for f in report["findings"]] == ["SEC001"]
    assert {s["rule"] for s in report["suppressed"]} == {"IMG002"}


def test_config_file_setting(dockerfile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = dockerfile.parent / ".carpenter.toml"
    config.write_text('ignore-pragmas = ["SEC"]\n')
    code, report = _scan(capsys, dockerfile, "--config", str(config))
    assert code == 1 and report["findings"][0]["rule"] == "SEC001"
    config.write_text("ignore-pragmas = 3\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["scan", str(dockerfile), "--config", str(config), "--no-cache"])
    assert exit_info.value.code == 2
    assert "ignore-pragmas must be" in capsys.readouterr().err
