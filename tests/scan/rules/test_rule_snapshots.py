"""Per-rule snapshot tests (ruff style): each `cases/<RULE>/` folder is scanned with only that
rule selected, and the rendered findings must equal `snapshots/<RULE>.snap` exactly. Each
`clean/<RULE>/` folder holds look-alikes the rule must not report (no finding at all).

A case folder may hold `case.toml` (`profile = "..."` for profile rules, `max_entries = N` to
cap the context listing) and `setup.sh`, run in a copy of the folder (git state, history,
submodules: things a folder in this repository cannot hold). test_rule_coverage.py requires a
case, a clean case and a doc page for every rule.

Regenerate after an intended change with `CARPENTER_UPDATE_SNAPSHOTS=1 pytest tests/scan/rules`
and review the diff: the snapshot is the rule's specification.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

import carpenter.model.context as context_module
from carpenter.model.context import clear_caches
from carpenter.model.history import clear_cache as clear_history_cache
from carpenter.scan.config import ScanConfig
from carpenter.scan.engine import ScanOptions, scan_paths
from carpenter.scan.finding import Finding
from carpenter.scan.registry import all_rules
from carpenter.scan.rules import ctx009_context_not_fully_checked as ctx009

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
SNAPSHOTS = HERE / "snapshots"
CLEAN = HERE / "clean"
RULES = sorted(p.name for p in CASES.iterdir() if (p / "Dockerfile").is_file())
CLEAN_RULES = sorted(p.name for p in CLEAN.iterdir() if (p / "Dockerfile").is_file())
# Fixed identity and dates, so commits made by setup.sh have the same ids on every run.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_AUTHOR_DATE": "2024-01-02T03:04:05Z",
    "GIT_COMMITTER_DATE": "2024-01-02T03:04:05Z", "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "init.defaultBranch",
    "GIT_CONFIG_VALUE_0": "main", "GIT_CONFIG_KEY_1": "protocol.file.allow",
    "GIT_CONFIG_VALUE_1": "always",
}
UPDATE = os.environ.get("CARPENTER_UPDATE_SNAPSHOTS") == "1"


def render(findings: list[Finding]) -> str:
    lines = []
    for f in findings:
        lines.append(
            f"{f.path}:{f.line}:{f.column}-{f.end_line}:{f.end_column} {f.severity} "
            f"{f.rule} {f.message}"
        )
        if f.fix_hint:
            lines.append(f"    hint: {f.fix_hint}")
        data = {k: v for k, v in f.data.items() if v not in (None, [], "")}
        if data:
            lines.append(f"    data: {json.dumps(data, sort_keys=True)}")
    return "\n".join(lines) + "\n"


def prepared(folder: Path, tmp_path: Path) -> Path:
    """The folder to scan: the case itself, or a copy after its setup.sh ran."""
    if not (folder / "setup.sh").is_file():
        return folder
    work = tmp_path / "case"
    shutil.copytree(folder, work)
    env = {**os.environ, **GIT_ENV, "HOME": str(tmp_path)}
    subprocess.run(["bash", "setup.sh"], cwd=work, env=env, check=True, capture_output=True)
    return work


def scan_folder(folder: Path, rule: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list:
    settings = tomllib.loads((folder / "case.toml").read_text()) if (
        folder / "case.toml").is_file() else {}
    if "max_entries" in settings:
        for module in (context_module, ctx009):  # the listing and the rule's message
            monkeypatch.setattr(module, "MAX_ENTRIES", int(settings["max_entries"]))
    profile = settings.get("profile")
    config = ScanConfig(select=(rule,), profile=profile,
                        profile_rules=(rule,) if profile else ())
    work = prepared(folder, tmp_path)
    clear_caches()  # git state and history are cached per folder; copies reuse tmp names
    clear_history_cache()
    monkeypatch.chdir(work)
    report = scan_paths(["Dockerfile"], ScanOptions(config=config))
    assert not report.errors, report.errors
    return [f for f in report.findings if f.rule == rule]


def scan_case(rule: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    # A case may name folders around its copy (CTX008): keep the snapshot machine-independent.
    text = render(scan_folder(CASES / rule, rule, tmp_path, monkeypatch))
    return text.replace(str(tmp_path), "<tmp>")


@pytest.mark.parametrize("rule", RULES)
def test_rule_snapshot(rule: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert rule in all_rules(), f"no rule {rule}"
    got = scan_case(rule, tmp_path, monkeypatch)
    path = SNAPSHOTS / f"{rule}.snap"
    if UPDATE or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(got)
        if not UPDATE:
            pytest.fail(f"wrote a new snapshot {path.name}: review it and run again")
    assert got == path.read_text()


@pytest.mark.parametrize("rule", CLEAN_RULES)
def test_clean_look_alikes_are_not_reported(
    rule: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert rule in all_rules(), f"no rule {rule}"
    assert render(scan_folder(CLEAN / rule, rule, tmp_path, monkeypatch)) == "\n"
