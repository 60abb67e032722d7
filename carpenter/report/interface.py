"""The report layer: `render(result, fmt)` for every stage result, and the scan reporters
(one class per output format, each turning a ScanReport into text).

Every reporter passes any message or source text it prints through `carpenter.core.redact.redact`
(via `safe_text`) so no format can leak a full secret.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from carpenter.core.diagnostics import Diagnostic
from carpenter.core.files import write_atomic  # noqa: F401  (re-exported)
from carpenter.core.records import record
from carpenter.core.redact import safe_text
from carpenter.scan.finding import SEVERITY_RANK, Finding

if TYPE_CHECKING:
    from carpenter.scan.engine import ScanReport
    from carpenter.scan.registry import Rule

FORMATS = ("text", "json", "sarif", "github")
# `--output-format` names ruff/hadolint users know; full and grouped are the text report
# (grouped by file, with code frames).
OUTPUT_FORMATS = ("concise", "full", "grouped", "json", "json-lines", "sarif", "github",
                  "gitlab", "junit", "checkstyle", "text")
FORMAT_ALIASES = {"full": "text", "grouped": "text"}
# Formats that render every stage's result; sarif and github describe scan findings only.
RESULT_FORMATS = ("text", "json")


@record(frozen=True)
class Output:
    """A rendered result: what goes to stdout and what to stderr, each complete (newlines
    included), so a CLI writes them as they are."""

    stdout: str
    stderr: str = ""


def render(result: object, fmt: str, **options: Any) -> Output:
    """Render any stage result (ScanReport, FixResult, BuildResult, CompareResult,
    SmokeResult) in `fmt`; each format module picks the rendering by the result's type."""
    if fmt == "text":
        from carpenter.report import text

        return text.render(result, **options)
    if fmt == "json":
        from carpenter.report import json

        return json.render(result, **options)
    if fmt in FORMATS and type(result).__name__ == "ScanReport":
        return Output(get_reporter(fmt, **options).render(result))  # type: ignore[arg-type]
    raise ValueError(f"no {fmt!r} rendering for {type(result).__name__}")


class Reporter(ABC):
    """Render a whole scan report; the CLI decides where the text goes (stdout or --output)."""

    name: str = ""

    def __init__(self, *, color: bool = False, width: int | None = None) -> None:
        self.color = color
        self.width = width

    @abstractmethod
    def render(self, report: ScanReport) -> str:
        """The complete output for `report`, ending with a newline."""


def get_reporter(fmt: str, **options: Any) -> Reporter:
    """The reporter for a --format value (imported lazily: rich only loads for text)."""
    if fmt == "text":
        from carpenter.report.text import TextReporter

        return TextReporter(**options)
    if fmt == "json":
        from carpenter.report.json import JsonReporter

        return JsonReporter(**options)
    if fmt == "sarif":
        from carpenter.report.sarif import SarifReporter

        return SarifReporter(**options)
    if fmt == "github":
        from carpenter.report.github import GithubReporter

        return GithubReporter(**options)
    if fmt in FORMAT_ALIASES:
        return get_reporter(FORMAT_ALIASES[fmt], **options)
    from carpenter.report.lines import REPORTERS

    if fmt in REPORTERS:
        return REPORTERS[fmt](**options)
    raise ValueError(f"unknown format {fmt!r}")


# ---------------------------------------------------------------------------------------------
# Helpers shared by the formats


def by_severity(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then by location."""
    return sorted(findings, key=lambda f: (-SEVERITY_RANK[f.severity], *f.sort_key()))


def summary_line(report: ScanReport) -> str:
    counts = {sev: 0 for sev in SEVERITY_RANK}
    for finding in report.findings:
        counts[finding.severity] += 1
    files = len(report.files)
    total = len(report.findings)
    parts = [f"{total} finding{'s' if total != 1 else ''}"]
    detail = ", ".join(
        f"{counts[s]} {s}{'s' if counts[s] != 1 and s != 'info' else ''}"
        for s in ("error", "warning", "info")
        if counts[s]
    )
    if detail:
        parts[0] += f" ({detail})"
    parts.append(f"in {files} file{'s' if files != 1 else ''}")
    text = " ".join(parts)
    if report.errors:
        n = len(report.errors)
        text += f"; {n} file{'s' if n != 1 else ''} could not be scanned"
    suppressed = len(getattr(report, "suppressed", ()))
    if suppressed:  # a silenced finding is still counted: nobody hides one unseen
        text += f"; {suppressed} suppressed by inline comments"
    return text


def rule_summary(rule: type[Rule]) -> str:
    """The docstring's first paragraph: the rule's one-line title."""
    return rule.summary()


def error_text(error: Diagnostic) -> str:
    where = error.where()
    message = safe_text(error.message)
    return f"{where}: {message}" if where else message


class SourceCache:
    """Re-reads reported files for code frames and fingerprints (None when unreadable)."""

    def __init__(self) -> None:
        self._files: dict[str, Any] = {}

    def get(self, path: str) -> Any:
        if path not in self._files:
            from carpenter.core.errors import InputError
            from carpenter.model.source import read_source

            try:
                self._files[path] = read_source(path)
            except (InputError, OSError):
                self._files[path] = None
        return self._files[path]

    def line(self, path: str, line: int) -> str | None:
        source = self.get(path)
        if source is None or line < 1 or line > source.line_count:
            return None
        return source.line_text(line)
