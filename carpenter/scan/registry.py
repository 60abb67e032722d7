"""The rule registry: the Rule base class and the loader of `carpenter.scan.rules.RULE_TABLE`.

A rule's docstring is the single source of its documentation. It has four sections:
`## What it does`, `## Why it matters`, `## Example`, `## Fix` - rendered by `carpenter rules`,
`carpenter explain`, the text output and SARIF `rules[]`.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from carpenter.core.lazyre import lazy_compile
from carpenter.core.records import record
from carpenter.scan import rules as rules_package
from carpenter.scan.finding import CATEGORIES, SEVERITIES, Finding
from carpenter.scan.payloads import Payload
from carpenter.scan.rules import RULE_TABLE

if TYPE_CHECKING:
    from carpenter.model.source import SourceFile
    from carpenter.scan.context import ScanContext

# Each rule's page, generated from its docstring by `python -m carpenter.scan.docs`.
HELP_BASE = "https://github.com/carpenter-ml/carpenter/blob/main/docs/rules/"

@record(eq=False)
class RuleDoc:
    """The sections of a rule's docstring (`carpenter explain`, `rules --format json`, SARIF)."""

    what: str
    why: str
    example: str
    fix: str

    def markdown(self) -> str:
        return (
            f"## What it does\n{self.what}\n\n## Why it matters\n{self.why}\n\n"
            f"## Example\n{self.example}\n\n## Fix\n{self.fix}\n"
        )


class Rule:
    """Base class; subclasses set the class attributes and implement `check`."""

    id: ClassVar[str]
    name: ClassVar[str]
    category: ClassVar[str]
    severity: ClassVar[str] = "warning"
    fixable: ClassVar[bool] = False
    # Rules that only run when a profile selects them (e.g. the competition contract).
    profile_only: ClassVar[bool] = False
    # hadolint codes covering the same problem, honoured in `# hadolint ignore=` pragmas.
    hadolint: ClassVar[tuple[str, ...]] = ()
    # A finding of this rule means files outside the build context were consulted (where else
    # a missing COPY source exists): the result cache does not keep such results.
    reads_outside_context: ClassVar[bool] = False

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        raise NotImplementedError

    # -- helpers for subclasses ------------------------------------------------------------
    def at(
        self,
        ctx: ScanContext,
        start: int,
        end: int,
        message: str,
        *,
        fix_hint: str = "",
        severity: str | None = None,
        source: SourceFile | None = None,
        fixable: bool | None = None,
        payload: Payload | None = None,
        **data: object,
    ) -> Finding:
        """A finding over file offsets [start, end) of `source` (default: the Dockerfile).

        `payload` carries the typed facts `fix` consumes; its `to_dict()` goes into `data`.
        """
        src = source or ctx.source
        span = src.span(start, end)
        return Finding(
            rule=self.id,
            name=self.name,
            category=self.category,
            severity=severity or self.severity,
            path=src.path,
            line=span.line,
            end_line=span.end_line,
            column=span.column,
            end_column=span.end_column,
            message=message,
            fix_hint=fix_hint,
            fixable=self.fixable if fixable is None else fixable,
            offset=start,
            end_offset=end,
            data={**payload.to_dict(), **data} if payload else dict(data),
            payload=payload,
        )

    @classmethod
    def doc(cls) -> RuleDoc:
        return parse_doc(inspect.getdoc(cls) or "")

    @classmethod
    def summary(cls) -> str:
        """The docstring's first paragraph: the rule's one-line title."""
        first = (inspect.getdoc(cls) or "").split("\n\n", 1)[0].strip()
        if not first or first.startswith("##"):
            return cls.name.replace("-", " ")
        return " ".join(first.split())


_SECTION = lazy_compile(r"^##\s+(.+?)\s*$", re.MULTILINE)


def parse_doc(text: str) -> RuleDoc:
    sections: dict[str, str] = {}
    parts = _SECTION.split(text)
    for title, body in zip(parts[1::2], parts[2::2], strict=False):
        sections[title.strip().lower()] = body.strip()
    return RuleDoc(
        what=sections.get("what it does", ""),
        why=sections.get("why it matters", ""),
        example=sections.get("example", ""),
        fix=sections.get("fix", ""),
    )


def _check(rule_id: str, rule: object) -> type[Rule]:
    """The class a table entry names, or a TypeError that says which entry is wrong."""
    if not (isinstance(rule, type) and issubclass(rule, Rule)):
        raise TypeError(f"{rule_id}: {rule!r} is not a Rule subclass")
    for attr in ("id", "name", "category"):
        if not hasattr(rule, attr):
            raise TypeError(f"{rule.__name__} lacks {attr}")
    if rule.id != rule_id:
        raise TypeError(f"rule table entry {rule_id} names {rule.__name__}, whose id is {rule.id}")
    if rule.category not in CATEGORIES:
        raise TypeError(f"{rule.id}: unknown category {rule.category!r}")
    if rule.severity not in SEVERITIES:
        raise TypeError(f"{rule.id}: unknown severity {rule.severity!r}")
    return rule


def load_rule(rule_id: str, target: str) -> type[Rule]:
    """Import the `"<module>:<class>"` a RULE_TABLE entry names."""
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(f"{rules_package.__name__}.{module_name}")
    return _check(rule_id, getattr(module, class_name, None))


_RULES: dict[str, type[Rule]] = {}


def all_rules() -> dict[str, type[Rule]]:
    """Every rule of the table, in id order (imported once)."""
    if not _RULES:
        loaded = {rule_id: load_rule(rule_id, target) for rule_id, target in RULE_TABLE.items()}
        _RULES.update(sorted(loaded.items()))
    return dict(_RULES)


def find_rule(key: str) -> type[Rule] | None:
    rules = all_rules()
    if key.upper() in rules:
        return rules[key.upper()]
    for rule in rules.values():
        if rule.name == key.lower():
            return rule
    return None


def help_uri(rule: type[Rule]) -> str:
    return f"{HELP_BASE}{rule.id}.md"
