"""Rule documentation: one page per rule, generated from the docstring and kept current."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from carpenter.report.sarif import rule_descriptor
from carpenter.scan.cli import rules as rules_command
from carpenter.scan.docs import main as docs_main
from carpenter.scan.docs import render_pages, stale_pages
from carpenter.scan.registry import HELP_BASE, all_rules

ROOT = Path(__file__).resolve().parents[3]
PAGES = ROOT / "docs" / "rules"
FENCE = re.compile(r"^```[a-z]*\n.+?\n```$", re.MULTILINE | re.DOTALL)


def test_generated_pages_are_current() -> None:
    stale = stale_pages(PAGES)
    assert stale == [], f"run `python -m carpenter.scan.docs` to regenerate: {stale}"


def test_check_mode_reports_an_edited_page(tmp_path: Path) -> None:
    for name, text in render_pages().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert docs_main(["--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "PIP001.md").write_text("hand edit\n", encoding="utf-8")
    (tmp_path / "XX999.md").write_text("a removed rule\n", encoding="utf-8")
    assert stale_pages(tmp_path) == ["PIP001.md", "XX999.md"]
    assert docs_main(["--out", str(tmp_path), "--check"]) == 1


@pytest.mark.parametrize("rule_id", list(all_rules()))
def test_every_section_is_written_and_fix_shows_the_fixed_code(rule_id: str) -> None:
    doc = all_rules()[rule_id].doc()
    assert doc.what and doc.why, rule_id
    assert FENCE.search(doc.example), f"{rule_id}: ## Example has no code block"
    assert FENCE.search(doc.fix), f"{rule_id}: ## Fix shows no fixed code (a fenced block)"


def _target(uri: str) -> Path:
    assert uri.startswith(HELP_BASE), uri
    return ROOT / "docs" / "rules" / uri.removeprefix(HELP_BASE)


def test_every_sarif_help_uri_points_at_an_existing_page() -> None:
    # Regression: helpUri used to point at docs/rules.md#<id>, a file that never existed.
    for rule in all_rules().values():
        uri = rule_descriptor(rule)["helpUri"]
        assert _target(uri).is_file(), f"{rule.id}: {uri} has no file in the repository"
        assert uri.endswith(f"/docs/rules/{rule.id}.md")


def test_rules_json_help_uri_matches_the_pages() -> None:
    result = CliRunner().invoke(rules_command, ["--format", "json"])
    listed = json.loads(result.output)
    assert len(listed) == len(all_rules())
    for entry in listed:
        assert _target(entry["help_uri"]).is_file(), entry["help_uri"]
