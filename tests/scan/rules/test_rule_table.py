"""The explicit rule table (`carpenter/scan/rules/__init__.py`) is the only list of rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import carpenter.scan.rules as rules_package
from carpenter.scan.registry import Rule, all_rules, load_rule
from carpenter.scan.rules import RULE_TABLE

RULES_DIR = Path(rules_package.__file__).resolve().parent


def rule_modules() -> set[str]:
    return {p.stem for p in RULES_DIR.glob("*.py") if p.stem != "__init__"}


def test_every_rule_module_is_in_the_table() -> None:
    listed = {target.partition(":")[0] for target in RULE_TABLE.values()}
    assert rule_modules() - listed == set(), "rule modules missing from RULE_TABLE"
    assert listed - rule_modules() == set(), "RULE_TABLE names modules that do not exist"


def test_table_is_in_id_order_and_ids_match_module_names() -> None:
    assert list(RULE_TABLE) == sorted(RULE_TABLE)
    for rule_id, target in RULE_TABLE.items():
        # apt001_unpinned_package -> APT001: the file name says which rule it holds.
        assert re.match(rf"{rule_id.lower()}_[a-z0-9_]+:[A-Za-z]+$", target), target


def test_all_rules_returns_the_table_classes() -> None:
    rules = all_rules()
    assert list(rules) == list(RULE_TABLE)
    for rule_id, rule in rules.items():
        assert issubclass(rule, Rule) and rule.id == rule_id


def test_a_wrong_entry_is_refused_with_its_id() -> None:
    with pytest.raises(TypeError, match=r"PIP001.*APT001"):
        load_rule("PIP001", "apt001_unpinned_package:AptUnpinnedPackage")
    with pytest.raises(TypeError, match="PIP009"):
        load_rule("PIP009", "pip001_unpinned_requirement:NoSuchClass")
