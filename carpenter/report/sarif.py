"""SARIF 2.1.0 for GitHub code scanning (valid against the OASIS schema; tested).

One run; `tool.driver.rules[]` documents every selected rule from its docstring; results carry
real columns, repo-relative URIs (relative to the working directory, as the Action runs from
the checkout) and `partialFingerprints` so alerts survive unrelated edits.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from carpenter import __version__
from carpenter.report.interface import Reporter, SourceCache, rule_summary, safe_text

if TYPE_CHECKING:
    from carpenter.scan.engine import ScanReport
    from carpenter.scan.finding import Finding
    from carpenter.scan.registry import Rule

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/carpenter-ml/carpenter"
AUTOMATION_ID = "carpenter/scan/"
FINGERPRINT_KEY = "carpenterLineHash/v1"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}
# GitHub's scale: >= 9 critical, 7-8.9 high, 4-6.9 medium, 0.1-3.9 low.
SECURITY_SEVERITY = {"error": "8.5", "warning": "6.0", "info": "3.0"}


def artifact_uri(path: str) -> tuple[str, str | None]:
    """(uri, uriBaseId): relative to the working directory when inside it, else a file URI."""
    absolute = os.path.abspath(path)
    cwd = os.getcwd()
    try:
        inside = os.path.commonpath([absolute, cwd]) == cwd
    except ValueError:
        inside = False
    if inside:
        relative = os.path.relpath(absolute, cwd).replace(os.sep, "/")
        return quote(relative, safe="/"), "%SRCROOT%"
    return Path(absolute).as_uri(), None


def rule_descriptor(rule: type[Rule]) -> dict[str, Any]:
    from carpenter.scan.registry import help_uri

    doc = rule.doc()
    tags = [rule.category, "reproducibility"]
    properties: dict[str, Any] = {"tags": tags, "precision": "high"}
    if rule.category == "secret":
        tags[1] = "security"
        properties["security-severity"] = getattr(
            rule, "security_severity", SECURITY_SEVERITY[rule.severity]
        )
    summary = safe_text(rule_summary(rule))
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": safe_text(doc.what or summary)},
        "help": {"text": safe_text(doc.markdown()), "markdown": safe_text(doc.markdown())},
        "helpUri": help_uri(rule),
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": properties,
    }


def line_hash(rule: str, uri: str, line_text: str) -> str:
    normalized = " ".join(line_text.split())
    digest = hashlib.sha256(f"{rule}\0{uri}\0{normalized}".encode()).hexdigest()
    return digest[:32]


def _script_location(finding: Finding, uris: dict[str, tuple[str, str | None]]
                     ) -> dict[str, Any] | None:
    """Where a download found by following a RUN into a script sits in that script (DL001)."""
    path, line = finding.data.get("script_path"), finding.data.get("script_line")
    if not isinstance(path, str) or not isinstance(line, int) or line < 1:
        return None
    if path not in uris:
        uris[path] = artifact_uri(path)
    uri, base = uris[path]
    location: dict[str, Any] = {"uri": uri}
    if base:
        location["uriBaseId"] = base
    script = safe_text(str(finding.data.get("script") or path))
    return {"id": 1, "message": {"text": f"the download in {script}"},
            "physicalLocation": {"artifactLocation": location, "region": {"startLine": line}}}


class SarifReporter(Reporter):
    name = "sarif"

    def render(self, report: ScanReport) -> str:
        # Compact: json's C encoder only runs without indent (5x faster on a large scan), and
        # code scanning caps uploads by size.
        return json.dumps(self.document(report), ensure_ascii=False, separators=(",", ":")) + "\n"

    def document(self, report: ScanReport) -> dict[str, Any]:
        rules = self._rules(report)
        index = {rule.id: i for i, rule in enumerate(rules)}
        sources = SourceCache()
        seen: dict[str, int] = {}
        uris: dict[str, tuple[str, str | None]] = {}
        results = [self._result(f, index, sources, seen, uris) for f in report.findings]
        run: dict[str, Any] = {
            "tool": {
                "driver": {
                    "name": "carpenter",
                    "version": __version__,
                    "semanticVersion": __version__,
                    "informationUri": INFORMATION_URI,
                    "rules": [rule_descriptor(rule) for rule in rules],
                }
            },
            "automationDetails": {"id": AUTOMATION_ID},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(os.getcwd()).as_uri() + "/"}},
            "invocations": [self._invocation(report)],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }
        return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}

    @staticmethod
    def _rules(report: ScanReport) -> list[type[Rule]]:
        from carpenter.scan.engine import active_rules
        from carpenter.scan.registry import all_rules

        registry = all_rules()
        chosen = {rule.id: rule for rule in active_rules(report.config)}
        for finding in report.findings:  # a rule may fire after --select changed
            if finding.rule in registry:
                chosen.setdefault(finding.rule, registry[finding.rule])
        return [chosen[key] for key in sorted(chosen)]

    @staticmethod
    def _result(
        finding: Finding, index: dict[str, int], sources: SourceCache, seen: dict[str, int],
        uris: dict[str, tuple[str, str | None]],
    ) -> dict[str, Any]:
        if finding.path not in uris:
            uris[finding.path] = artifact_uri(finding.path)
        uri, base = uris[finding.path]
        location: dict[str, Any] = {"uri": uri}
        if base:
            location["uriBaseId"] = base
        end_line = max(finding.end_line, finding.line)
        end_column = finding.end_column
        if end_line == finding.line:
            end_column = max(end_column, finding.column)
        region = {
            "startLine": finding.line,
            "startColumn": max(finding.column, 1),
            "endLine": end_line,
            "endColumn": max(end_column, 1),
        }
        text = safe_text(sources.line(finding.path, finding.line) or "")
        digest = line_hash(finding.rule, uri, text)
        # Identical lines in one file get an occurrence suffix, as GitHub's own hash does.
        occurrence = seen.get(digest, 0) + 1
        seen[digest] = occurrence
        message = safe_text(finding.message)
        if finding.fix_hint:
            message += f" Fix: {safe_text(finding.fix_hint)}"
        result: dict[str, Any] = {
            "ruleId": finding.rule,
            "level": LEVEL[finding.severity],
            "message": {"text": message},
            "locations": [{"physicalLocation": {"artifactLocation": location, "region": region}}],
            "partialFingerprints": {FINGERPRINT_KEY: f"{digest}:{occurrence}"},
            "properties": {"category": finding.category, "fixable": finding.fixable},
        }
        if finding.rule in index:
            result["ruleIndex"] = index[finding.rule]
        related = _script_location(finding, uris)
        if related is not None:
            result["relatedLocations"] = [related]
            result["message"]["text"] += " (the download: [in the script](1))"
        return result

    @staticmethod
    def _invocation(report: ScanReport) -> dict[str, Any]:
        notes = []
        for error in report.errors:
            note: dict[str, Any] = {
                "level": "error",
                "message": {"text": safe_text(str(error.get("message", "")))},
            }
            if error.get("path"):
                uri, base = artifact_uri(str(error["path"]))
                artifact: dict[str, Any] = {"uri": uri}
                if base:
                    artifact["uriBaseId"] = base
                physical: dict[str, Any] = {"artifactLocation": artifact}
                if isinstance(error.get("line"), int) and error["line"] >= 1:
                    physical["region"] = {"startLine": error["line"]}
                note["locations"] = [{"physicalLocation": physical}]
            notes.append(note)
        return {"executionSuccessful": not report.errors, "toolExecutionNotifications": notes}
