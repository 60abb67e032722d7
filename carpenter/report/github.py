"""GitHub Actions workflow commands: `::error file=…,line=…,endLine=…,col=…,title=…::message`.

GitHub shows only about ten annotations of each level per step, so the most severe come first;
`step_summary` renders every finding as Markdown for `$GITHUB_STEP_SUMMARY`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from carpenter.report.interface import Reporter, by_severity, safe_text, summary_line

if TYPE_CHECKING:
    from carpenter.scan.engine import ScanReport
    from carpenter.scan.finding import Finding

LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    """Escape a command's message (after `::`)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value (file=, title=): also `:` and `,`, which delimit properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding) -> str:
    props = [
        ("file", finding.path.replace("\\", "/")),
        ("line", str(finding.line)),
        ("endLine", str(finding.end_line)),
        ("col", str(finding.column)),
    ]
    if finding.end_line == finding.line and finding.end_column > finding.column:
        # GitHub accepts endColumn only for single-line annotations.
        props.append(("endColumn", str(finding.end_column)))
    props.append(("title", f"{finding.rule} {finding.name}"))
    message = safe_text(finding.message)
    if finding.fix_hint:
        message += f"\nFix: {safe_text(finding.fix_hint)}"
    head = ",".join(f"{key}={escape_property(value)}" for key, value in props)
    return f"::{LEVEL[finding.severity]} {head}::{escape_data(message)}"


class GithubReporter(Reporter):
    name = "github"

    def render(self, report: ScanReport) -> str:
        lines = []
        for error in report.errors:
            props = f"file={escape_property(error.path)}"
            if error.line:
                props += f",line={error.line}"
            props += ",title=carpenter could not scan this file"
            message = safe_text(error.message)
            lines.append(f"::error {props}::{escape_data(message)}")
        lines.extend(annotation(f) for f in by_severity(report.findings))
        lines.append(summary_line(report))
        return "\n".join(lines) + "\n"


def step_summary(report: ScanReport) -> str:
    """Markdown for $GITHUB_STEP_SUMMARY: every finding, since annotations are capped."""

    def cell(text: str) -> str:
        return safe_text(text).replace("|", "\\|").replace("\n", " ")

    out = ["## Carpenter scan", "", summary_line(report), ""]
    if report.findings:
        out += ["| severity | rule | location | message |", "|---|---|---|---|"]
        for f in by_severity(report.findings):
            out.append(
                f"| {f.severity} | `{f.rule}` {f.name} | `{cell(f.path)}:{f.line}` | "
                f"{cell(f.message)} |"
            )
    for error in report.errors:
        out.append(f"- could not scan `{cell(error.path)}`: {cell(error.message)}")
    return "\n".join(out) + "\n"
