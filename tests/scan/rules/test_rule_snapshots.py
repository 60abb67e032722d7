"""Per-rule snapshot tests (ruff style): each `cases/<RULE>/` folder is scanned with only that
rule selected, and the rendered findings must equal `snapshots/<RULE>.snap` exactly.

Regenerate after an intended change with `CARPENTER_UPDATE_SNAPSHOTS=1 pytest tests/scan/rules`
and review the diff: the snapshot is the rule's specification.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from carpenter.scan.config import ScanConfig
from carpenter.scan.engine import ScanOptions, scan_paths
from carpenter.scan.finding import Finding
from carpenter.scan.registry import all_rules

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
SNAPSHOTS = HERE / "snapshots"
RULES = sorted(p.name for p in CASES.iterdir() if (p / "Dockerfile").is_file())
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


def scan_case(rule: str) -> str:
    cwd = os.getcwd()
    os.chdir(CASES / rule)
    try:
        report = scan_paths(["Dockerfile"], ScanOptions(config=ScanConfig(select=(rule,))))
    finally:
        os.chdir(cwd)
    assert not report.errors, report.errors
    return render([f for f in report.findings if f.rule == rule])


def test_every_rule_of_this_part_has_a_case() -> None:
    prefixes = ("PIP", "APT", "CONDA", "IMG", "GIT", "SH", "BK")
    ours = {rid for rid in all_rules() if rid.startswith(prefixes)}
    assert ours <= set(RULES), sorted(ours - set(RULES))


@pytest.mark.parametrize("rule", RULES)
def test_rule_snapshot(rule: str) -> None:
    assert rule in all_rules(), f"no rule {rule}"
    got = scan_case(rule)
    path = SNAPSHOTS / f"{rule}.snap"
    if UPDATE or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(got)
        if not UPDATE:
            pytest.fail(f"wrote a new snapshot {path.name}: review it and run again")
    assert got == path.read_text()
