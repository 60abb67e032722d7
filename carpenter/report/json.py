"""JSON output: the stable schema documented in docs/json-schema.md.

Schema file: rules/schemas/scan.schema.json. Bump SCHEMA_VERSION on any incompatible change.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from carpenter.report.interface import Reporter, safe_text

if TYPE_CHECKING:
    from carpenter.scan.engine import ScanReport

SCHEMA_VERSION = 1


def report_dict(report: ScanReport) -> dict[str, Any]:
    findings = []
    for finding in report.findings:
        item = finding.to_json()
        item["message"] = safe_text(item["message"])
        item["fix_hint"] = safe_text(item["fix_hint"])
        findings.append(item)
    errors = [
        {
            "path": str(error.get("path") or ""),
            "line": error.get("line") if isinstance(error.get("line"), int) else None,
            "message": safe_text(str(error.get("message", ""))),
        }
        for error in report.errors
    ]
    return {
        "version": SCHEMA_VERSION,
        "files": list(report.files),
        "findings": findings,
        "errors": errors,
    }


class JsonReporter(Reporter):
    name = "json"

    def render(self, report: ScanReport) -> str:
        return json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n"
