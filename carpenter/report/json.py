"""JSON output: the stable schema documented in docs/json-schema.md.

Schema file: carpenter/data/schemas/scan.schema.json. Bump SCHEMA_VERSION on any
incompatible change.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from carpenter.core.redact import redact
from carpenter.report.interface import Output, Reporter, safe_text

if TYPE_CHECKING:
    from carpenter.scan.engine import ScanReport

SCHEMA_VERSION = 1
FINDING_FIELDS = ("rule", "name", "category", "severity", "path", "line", "end_line", "column",
                  "end_column", "message", "fix_hint", "fixable")


def report_dict(report: ScanReport) -> dict[str, Any]:
    # Field by field rather than Finding.to_json(): asdict() deep-copies `data` for nothing,
    # a third of the report time on a 14,000-finding scan.
    values = attrgetter(*FINDING_FIELDS)
    findings = []
    for finding in report.findings:
        item = dict(zip(FINDING_FIELDS, values(finding), strict=True))
        item["message"] = safe_text(finding.message)
        item["fix_hint"] = safe_text(finding.fix_hint)
        findings.append(item)
    errors = [{**error.to_dict(), "message": safe_text(error.message)} for error in report.errors]
    return {
        "version": SCHEMA_VERSION,
        "files": list(report.files),
        "findings": findings,
        "errors": errors,
        # Findings silenced by `# carpenter: ignore[...]` comments: rule, path, line.
        "suppressed": list(getattr(report, "suppressed", [])),
    }


class JsonReporter(Reporter):
    name = "json"

    def render(self, report: ScanReport) -> str:
        return dumps_indented(report_dict(report), flat=("findings", "errors"))


def dumps_indented(data: dict[str, Any], flat: tuple[str, ...]) -> str:
    """Exactly `json.dumps(data, indent=2, ensure_ascii=False) + "\n"`, but fast.

    `indent` forces json's pure-Python encoder (1 s for 14,000 findings). The keys in `flat`
    hold lists of non-empty objects with scalar values only (findings, errors): those are
    encoded by the C encoder with the indentation as item separator. JSON strings never hold
    a raw newline, so the separator cannot occur inside a value.
    """
    parts = []
    for key, value in data.items():
        if value and key in flat:
            text = _flat_objects(value)
        else:
            text = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        parts.append(f"  {json.dumps(key, ensure_ascii=False)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def _flat_objects(items: list[dict[str, Any]]) -> str:
    # One C-encoder call; the item separator is the field indentation, and "}, {" between
    # objects is then re-indented (it cannot occur inside a string: no raw newlines there).
    sep = ",\n      "
    text = json.dumps(items, separators=(sep, ": "), ensure_ascii=False)[2:-2]
    text = text.replace("}" + sep + "{", "\n    },\n    {\n      ")
    return "[\n    {\n      " + text + "\n    }\n  ]"


# ---------------------------------------------------------------------------------------------
# Every stage result: `render(result, **options)` picks by type. Each result's to_dict() is its
# stable schema; the wrappers and key order below are what the CLIs have always printed.

def render(result: object, **options: Any) -> Output:
    renderers: dict[str, Callable[..., str]] = {
        "ScanReport": lambda r, **o: JsonReporter(**o).render(r),
        "FixResult": lambda r, **_: json.dumps(r.to_dict(), indent=2) + "\n",
        "BuildResult": lambda r: _sorted({"result": r.to_dict()}),
        "CompareResult": lambda r: _sorted(r.to_dict()),
        # Smoke results carry image output (log tails, check details): redact the whole text.
        "SmokeResult": lambda r: redact(json.dumps(r.to_dict(), indent=2, sort_keys=True,
                                                   default=str)) + "\n",
        # Stage results were redacted as they were made; the whole text once more for safety.
        "CheckResult": lambda r: redact(json.dumps(r.to_dict(), indent=2, sort_keys=True,
                                                   default=str)) + "\n",
    }
    renderer = renderers.get(type(result).__name__)
    if renderer is None:
        raise TypeError(f"no json rendering for {type(result).__name__}")
    return Output(renderer(result, **options))


def _sorted(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
