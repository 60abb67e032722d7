"""Every rule of the table has a doc page, a positive case and a negative (clean) case.

The positive case is `cases/<RULE>/`, whose reviewed snapshot must hold at least one finding of
the rule; the negative case is `clean/<RULE>/`, look-alikes that test_rule_snapshots.py scans
and requires to produce no finding. Both are checked against the scan itself there; this file
makes sure no rule goes without them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from carpenter.scan.rules import RULE_TABLE

HERE = Path(__file__).resolve().parent
PAGES = HERE.parents[2] / "docs" / "rules"


def snapshot_rules(rule: str) -> list[str]:
    """The rule id of every finding line in the snapshot of `cases/<rule>/`."""
    path = HERE / "snapshots" / f"{rule}.snap"
    if not path.is_file():
        return []
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith(" ")]
    return [line.split()[2] for line in lines if len(line.split()) > 2]


@pytest.mark.parametrize("rule", list(RULE_TABLE))
def test_rule_has_a_doc_page(rule: str) -> None:
    assert (PAGES / f"{rule}.md").is_file(), "run `python -m carpenter.scan.docs`"


@pytest.mark.parametrize("rule", list(RULE_TABLE))
def test_rule_has_a_positive_case(rule: str) -> None:
    assert (HERE / "cases" / rule / "Dockerfile").is_file(), f"add cases/{rule}/Dockerfile"
    assert rule in snapshot_rules(rule), f"cases/{rule}/ produces no {rule} finding"


@pytest.mark.parametrize("rule", list(RULE_TABLE))
def test_rule_has_a_negative_case(rule: str) -> None:
    assert (HERE / "clean" / rule / "Dockerfile").is_file(), f"add clean/{rule}/Dockerfile"


def test_no_case_folder_for_an_unknown_rule() -> None:
    for kind in ("cases", "clean"):
        extra = {p.name for p in (HERE / kind).iterdir() if p.is_dir()} - set(RULE_TABLE)
        assert not extra, f"{kind}/ has folders for rules that do not exist: {sorted(extra)}"
