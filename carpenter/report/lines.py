"""Output formats other linters' users already feed to their tools: concise (one line per
finding, as ruff and hadolint print), json-lines, GitLab Code Quality, JUnit XML and Checkstyle
XML. Every text goes through `safe_text`, so no format can print a full secret."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

from carpenter.report.interface import Reporter, error_text, safe_text, summary_line

if TYPE_CHECKING:
    from carpenter.scan.engine import ScanReport
    from carpenter.scan.finding import Finding

# GitLab Code Quality severities (info, minor, major, critical, blocker).
GITLAB_SEVERITY = {"error": "critical", "warning": "major", "info": "info"}
CHECKSTYLE_SEVERITY = {"error": "error", "warning": "warning", "info": "info"}


def _message(finding: Finding) -> str:
    text = safe_text(finding.message)
    return f"{text} Fix: {safe_text(finding.fix_hint)}" if finding.fix_hint else text


class ConciseReporter(Reporter):
    """`path:line:col: RULE message` — what editors' problem matchers read."""

    name = "concise"

    def render(self, report: ScanReport) -> str:
        lines = [f"{f.path}:{f.line}:{f.column}: {f.rule} [{f.severity}] {_message(f)}"
                 for f in sorted(report.findings, key=lambda f: f.sort_key())]
        lines += [f"{error_text(e)} [cannot scan]" for e in report.errors]
        lines.append(summary_line(report))
        return "\n".join(lines) + "\n"


class JsonLinesReporter(Reporter):
    """One JSON object per finding (streams into jq and log shippers)."""

    name = "json-lines"

    def render(self, report: ScanReport) -> str:
        from carpenter.report.json import report_dict

        data = report_dict(report)
        rows = [json.dumps(item, ensure_ascii=False) for item in data["findings"]]
        rows += [json.dumps({"error": item}, ensure_ascii=False) for item in data["errors"]]
        return "".join(row + "\n" for row in rows)


class GitlabReporter(Reporter):
    """GitLab Code Quality report (a JSON array; `fingerprint` keeps issues across MRs)."""

    name = "gitlab"

    def render(self, report: ScanReport) -> str:
        issues = []
        for f in report.findings:
            key = f"{f.rule}\0{f.path}\0{f.line}\0{f.message}".encode()
            issues.append({
                "description": f"{f.rule} {_message(f)}",
                "check_name": f.rule,
                "fingerprint": hashlib.sha256(key).hexdigest()[:32],
                "severity": GITLAB_SEVERITY[f.severity],
                "location": {"path": f.path.replace("\\", "/"), "lines": {"begin": f.line}},
            })
        return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"


class JunitReporter(Reporter):
    """JUnit XML: one test case per Dockerfile, a failure per finding (CI test tabs)."""

    name = "junit"

    def render(self, report: ScanReport) -> str:
        by_file: dict[str, list[Finding]] = {path: [] for path in report.files}
        for f in report.findings:
            by_file.setdefault(f.path, []).append(f)
        failures = len(report.findings)
        out = ['<?xml version="1.0" encoding="UTF-8"?>',
               f'<testsuites name="carpenter" tests="{len(by_file)}" failures="{failures}">',
               f'<testsuite name="carpenter scan" tests="{len(by_file)}" '
               f'failures="{failures}" errors="{len(report.errors)}">']
        for path, findings in by_file.items():
            out.append(f"<testcase classname={quoteattr(path)} name={quoteattr(path)}>")
            for f in findings:
                text = f"{f.path}:{f.line}:{f.column}: {_message(f)}"
                out.append(f"<failure type={quoteattr(f.rule)} message={quoteattr(text)}/>")
            out.append("</testcase>")
        for error in report.errors:
            path = str(error.get("path") or "")
            out.append(f"<testcase classname={quoteattr(path)} name={quoteattr(path)}>"
                       f"<error message={quoteattr(error_text(error))}/></testcase>")
        out += ["</testsuite>", "</testsuites>"]
        return "\n".join(out) + "\n"


class CheckstyleReporter(Reporter):
    """Checkstyle XML (hadolint's `--format checkstyle`; read by Jenkins, reviewdog)."""

    name = "checkstyle"

    def render(self, report: ScanReport) -> str:
        by_file: dict[str, list[Finding]] = {}
        for f in sorted(report.findings, key=lambda f: f.sort_key()):
            by_file.setdefault(f.path, []).append(f)
        out = ['<?xml version="1.0" encoding="UTF-8"?>', '<checkstyle version="4.3">']
        for path, findings in by_file.items():
            out.append(f"<file name={quoteattr(path)}>")
            out += [f'<error line="{f.line}" column="{f.column}" '
                    f"severity={quoteattr(CHECKSTYLE_SEVERITY[f.severity])} "
                    f"message={quoteattr(_message(f))} "
                    f"source={quoteattr('carpenter.' + f.rule)}/>" for f in findings]
            out.append("</file>")
        for error in report.errors:
            out.append(f"<file name={quoteattr(str(error.get('path') or ''))}>"
                       f'<error line="{error.get("line") or 1}" severity="error" '
                       f"message={quoteattr(error_text(error))} source=\"carpenter\"/></file>")
        out.append("</checkstyle>")
        return "\n".join(out) + "\n"


REPORTERS: dict[str, type[Reporter]] = {
    cls.name: cls for cls in (ConciseReporter, JsonLinesReporter, GitlabReporter,
                              JunitReporter, CheckstyleReporter)
}
