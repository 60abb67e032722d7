"""SARIF 2.1.0 for GitHub code scanning (valid against the OASIS schema and GitHub's limits;
tested).

One run; `tool.driver.rules[]` documents every selected rule from its docstring; results carry
real columns, URIs relative to the repository root (`%SRCROOT%`, whatever the working
directory: upload-sarif matches them against the checkout), `partialFingerprints` (GitHub
tracks alerts by `primaryLocationLineHash` only) and, where `fix` knows the repair, `fixes[]`
(artifactChanges with replacements; GitHub ignores them, SARIF viewers apply them).
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from carpenter import __version__
from carpenter.core.redact import redact
from carpenter.report.interface import Reporter, SourceCache, by_severity, rule_summary, safe_text

if TYPE_CHECKING:
    from carpenter.fix.edits import Edit
    from carpenter.fix.engine import FileChange, FixResult
    from carpenter.scan.engine import ScanOptions, ScanReport
    from carpenter.scan.finding import Finding
    from carpenter.scan.registry import Rule

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/carpenter-ml/carpenter"
DEFAULT_CATEGORY = "carpenter/scan"
AUTOMATION_ID = f"{DEFAULT_CATEGORY}/"
FINGERPRINT_KEY = "carpenterLineHash/v1"
# The only fingerprint GitHub uses to track an alert across commits; upload-sarif computes
# it when missing, the raw REST upload does not (every upload would then open new alerts).
GITHUB_FINGERPRINT_KEY = "primaryLocationLineHash"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}
# `problem.severity` is what GitHub shows for rules without security-severity.
PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "info": "recommendation"}
# GitHub's scale: >= 9 critical, 7-8.9 high, 4-6.9 medium, 0.1-3.9 low.
SECURITY_SEVERITY = {"error": "8.5", "warning": "6.0", "info": "3.0"}
# How often a finding of the category is a real problem: detection is exact (a parse, a
# missing `==`), reads shapes (secrets: a lookalike can match), or guesses about files
# outside the Dockerfile (host paths, competition contracts).
PRECISION = {
    "shell-bug": "very-high", "buildkit": "very-high", "unpinned-pip": "very-high",
    "unpinned-apt": "very-high", "unpinned-conda": "very-high",
    "floating-base-image": "very-high", "unpinned-git": "very-high",
    "cuda-source-build": "high", "build-time-download": "high", "secret": "high",
    "host-local-artifact": "medium", "contract": "medium",
}
# GitHub's documented limits per run ("SARIF support for code scanning"): above them an
# upload is rejected or results are dropped without a word.
MAX_RESULTS = 25_000
MAX_TAGS = 20
MAX_LOCATIONS = 1_000
# Carpenter's own cap: an alert's message is a title-sized text, not a log.
MAX_MESSAGE = 2_000


def automation_id(category: str | None) -> str:
    """`automationDetails.id` for a category: the trailing slash makes it a category, so two
    uploads with different categories (a matrix, scan + rebuild) do not replace each other."""
    text = (category or "").strip().strip("/")
    return f"{text or DEFAULT_CATEGORY}/"


@lru_cache(maxsize=1024)
def repository_root(folder: str) -> str | None:
    """The nearest folder at or above `folder` holding `.git` (a folder, or the file of a
    worktree or submodule): the root code scanning resolves URIs against."""
    current = Path(folder)
    for candidate in [current, *current.parents]:
        if (candidate / ".git").exists():
            return str(candidate)
    return None


def source_root(paths: list[str]) -> str:
    """%SRCROOT%: the repository of the first scanned file, else of the working directory,
    else the working directory (files outside any git repository)."""
    for path in paths[:1]:
        root = repository_root(os.path.dirname(os.path.abspath(path)))
        if root:
            return root
    return repository_root(os.getcwd()) or os.getcwd()


def artifact_uri(path: str, root: str | None = None) -> tuple[str, str | None]:
    """(uri, uriBaseId): relative to `root` (default: the working directory) when inside it,
    else an absolute file URI."""
    absolute = os.path.abspath(path)
    base = root or os.getcwd()
    try:
        inside = os.path.commonpath([absolute, base]) == base
    except ValueError:
        inside = False
    if inside:
        relative = os.path.relpath(absolute, base).replace(os.sep, "/")
        return quote(relative, safe="/"), "%SRCROOT%"
    return Path(absolute).as_uri(), None


def _location(path: str, root: str) -> dict[str, Any]:
    uri, base = artifact_uri(path, root)
    return {"uri": uri, "uriBaseId": base} if base else {"uri": uri}


# ---------------------------------------------------------------------------------------------
# fixes[]: the edits `fix` makes for a finding, as SARIF replacements


def compute_fixes(report: ScanReport, scan: ScanOptions) -> FixResult | None:
    """Run the fix stage in-process on the scanned findings (bundled snapshot, no look-ups:
    a report must not depend on the network); None when it cannot run."""
    from carpenter.core.errors import CarpenterError
    from carpenter.fix.engine import FixOptions, FixResult, fix_findings, fixable
    from carpenter.snapshot.model import DEFAULT_SNAPSHOT, load_snapshot

    by_path: dict[str, list[Finding]] = {}
    for finding in report.findings:
        if fixable(finding):
            by_path.setdefault(finding.path, []).append(finding)
    if not by_path:
        return None
    try:
        options = FixOptions(load_snapshot(DEFAULT_SNAPSHOT), scan=scan, online=False)
    except CarpenterError:
        return None
    merged = FixResult(options.snapshot.name, options.strategy)
    files: list[FileChange] = []
    for path, findings in by_path.items():
        try:
            part = fix_findings(path, findings, options)
        except (CarpenterError, OSError, ValueError):
            continue  # this file gets no fixes[]; the scan result stands
        merged.records.extend(part.records)
        merged.secrets.extend(part.secrets)
        files.extend(part.files)
    merged.files = files
    return merged


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column in code points) of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _replacement(change: FileChange, edit: Edit) -> dict[str, Any]:
    start_line, start_column = _position(change.before, edit.offset)
    end_line, end_column = _position(change.before, edit.end_offset)
    return {
        "deletedRegion": {"startLine": start_line, "startColumn": start_column,
                          "endLine": end_line, "endColumn": end_column},
        "insertedContent": {"text": edit.replacement},
    }


def fixes_by_finding(result: FixResult | None, root: str) -> dict[tuple, list[dict[str, Any]]]:
    """(rule, path, line, column) -> `fixes[]` for each finding `fix` repaired. A fix whose
    new text would carry a secret is left out (SARIF files end up in artifacts and logs)."""
    if result is None:
        return {}
    changes: dict[tuple, dict[str, list[dict[str, Any]]]] = {}
    locations: dict[str, dict[str, Any]] = {}
    tainted: set[tuple] = set()
    for change in result.files:
        for edit, record in change.edits:
            if record.status != "applied":
                continue
            key = (record.rule, record.path, record.line, record.column)
            if redact(edit.replacement, result.secrets) != edit.replacement:
                tainted.add(key)
            locations.setdefault(change.path, _location(change.path, root))
            per_file = changes.setdefault(key, {})
            per_file.setdefault(change.path, []).append(_replacement(change, edit))
    out: dict[tuple, list[dict[str, Any]]] = {}
    for key, per_file in changes.items():
        if key in tainted:
            continue
        artifact_changes = [{"artifactLocation": locations[path], "replacements": reps}
                            for path, reps in per_file.items()]
        out[key] = [{"description": {"text": f"carpenter fix: {key[0]}"},
                     "artifactChanges": artifact_changes}]
    return out


# ---------------------------------------------------------------------------------------------
# Rules and results


def rule_descriptor(rule: type[Rule]) -> dict[str, Any]:
    from carpenter.scan.registry import help_uri

    doc = rule.doc()
    tags = [rule.category, "reproducibility"]
    precision = getattr(rule, "precision", None) or PRECISION.get(rule.category, "medium")
    properties: dict[str, Any] = {
        "tags": tags, "precision": precision,
        "problem.severity": PROBLEM_SEVERITY[rule.severity],
    }
    if rule.category == "secret":
        # security-severity only counts with the `security` tag.
        tags[1] = "security"
        properties["security-severity"] = getattr(
            rule, "security_severity", SECURITY_SEVERITY[rule.severity]
        )
    properties["tags"] = tags[:MAX_TAGS]
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


def _script_location(finding: Finding, root: str) -> dict[str, Any] | None:
    """Where a download found by following a RUN into a script sits in that script (DL001)."""
    path, line = finding.data.get("script_path"), finding.data.get("script_line")
    if not isinstance(path, str) or not isinstance(line, int) or line < 1:
        return None
    script = safe_text(str(finding.data.get("script") or path))
    return {"id": 1, "message": {"text": f"the download in {script}"},
            "physicalLocation": {"artifactLocation": _location(path, root),
                                 "region": {"startLine": line}}}


class SarifReporter(Reporter):
    name = "sarif"

    def __init__(self, *, category: str | None = None, fixes: FixResult | None = None,
                 **options: Any) -> None:
        super().__init__(**options)
        self.category = category
        self.fixes = fixes

    def render(self, report: ScanReport) -> str:
        # Compact: json's C encoder only runs without indent (5x faster on a large scan), and
        # code scanning caps uploads by size.
        return json.dumps(self.document(report), ensure_ascii=False, separators=(",", ":")) + "\n"

    def document(self, report: ScanReport) -> dict[str, Any]:
        rules = self._rules(report)
        index = {rule.id: i for i, rule in enumerate(rules)}
        root = source_root(report.files or [f.path for f in report.findings])
        fixes = fixes_by_finding(self.fixes, root)
        sources = SourceCache()
        seen: dict[str, int] = {}
        uris: dict[str, dict[str, Any]] = {}
        # GitHub keeps the first results of a run: the most severe go first when over the cap.
        kept = by_severity(report.findings)[:MAX_RESULTS]
        dropped = len(report.findings) - len(kept)
        results = [self._result(f, index, sources, seen, uris, root, fixes)
                   for f in sorted(kept, key=lambda f: f.sort_key())]
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
            "automationDetails": {"id": automation_id(self.category)},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(root).as_uri().rstrip("/") + "/"}},
            "invocations": [self._invocation(report, root, dropped)],
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
        uris: dict[str, dict[str, Any]], root: str, fixes: dict[tuple, list[dict[str, Any]]],
    ) -> dict[str, Any]:
        if finding.path not in uris:
            uris[finding.path] = _location(finding.path, root)
        location = uris[finding.path]
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
        digest = line_hash(finding.rule, location["uri"], text)
        # Identical lines in one file get an occurrence suffix, as GitHub's own hash does.
        occurrence = seen.get(digest, 0) + 1
        seen[digest] = occurrence
        fingerprint = f"{digest}:{occurrence}"
        message = safe_text(finding.message)
        if finding.fix_hint:
            message += f" Fix: {safe_text(finding.fix_hint)}"
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        result: dict[str, Any] = {
            "ruleId": finding.rule,
            "level": LEVEL[finding.severity],
            "message": {"text": message},
            "locations": [{"physicalLocation": {"artifactLocation": location, "region": region}}],
            "partialFingerprints": {FINGERPRINT_KEY: fingerprint,
                                    GITHUB_FINGERPRINT_KEY: fingerprint},
            "properties": {"category": finding.category, "fixable": finding.fixable},
        }
        if finding.rule in index:
            result["ruleIndex"] = index[finding.rule]
        found = fixes.get((finding.rule, finding.path, finding.line, finding.column))
        if found:
            result["fixes"] = found
        related = _script_location(finding, root)
        if related is not None:
            result["relatedLocations"] = [related]
            result["message"]["text"] += " (the download: [in the script](1))"
        return result

    @staticmethod
    def _invocation(report: ScanReport, root: str, dropped: int = 0) -> dict[str, Any]:
        notes = []
        for error in report.errors:
            note: dict[str, Any] = {
                "level": "error",
                "message": {"text": safe_text(error.message)},
            }
            if error.path:
                physical: dict[str, Any] = {"artifactLocation": _location(error.path, root)}
                if error.line is not None and error.line >= 1:
                    physical["region"] = {"startLine": error.line}
                note["locations"] = [{"physicalLocation": physical}]
            notes.append(note)
        if dropped:
            notes.append({"level": "warning", "message": {"text": (
                f"{dropped} less severe results left out: code scanning takes at most "
                f"{MAX_RESULTS} per run (see the json output for all)")}})
        return {"executionSuccessful": not report.errors, "toolExecutionNotifications": notes}
