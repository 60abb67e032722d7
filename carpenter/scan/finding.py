"""A finding: one problem at one place, with what it takes to fix it."""

from __future__ import annotations

from dataclasses import asdict, field
from typing import Any

from carpenter.core.records import record
from carpenter.scan.payloads import Payload

CATEGORIES = (
    "unpinned-pip",
    "unpinned-apt",
    "unpinned-conda",
    "floating-base-image",
    "unpinned-git",
    "host-local-artifact",
    "cuda-source-build",
    "secret",
    "build-time-download",
    "shell-bug",
    "contract",
    "buildkit",
)
SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


@record(slots=True)
class Finding:
    """One rule's report at one place of one file (what every output format prints)."""

    rule: str  # stable id, e.g. "PIP001"
    name: str  # kebab-case rule name, e.g. "pip-unpinned"
    category: str
    severity: str
    path: str  # as the user named it (or relative to the working directory)
    line: int
    end_line: int
    column: int
    end_column: int
    message: str  # never contains a full secret
    fix_hint: str = ""
    fixable: bool = False
    offset: int = 0  # file character offsets, for `fix`
    end_offset: int = 0
    data: dict[str, Any] = field(default_factory=dict)  # rule-specific facts for `fix`
    # The typed facts `fix` consumes (PipPin, SecretMove, ...); `data` holds payload.to_dict().
    payload: Payload | None = None

    def sort_key(self) -> tuple:
        return (self.path, self.line, self.column, self.rule, self.message)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("offset")
        out.pop("end_offset")
        out.pop("data")
        out.pop("payload")
        return out
