"""One typed per-file problem: a path that could not be read, scanned or fixed, and why.

Every stage reports such problems (scan: a binary Dockerfile, a rule that raised; fix: a file
it could not load) and every report format renders them, so they share one struct instead of
ad-hoc `{"path", "line", "message"}` dicts read back with `.get()` fallbacks.
"""

from __future__ import annotations

from typing import Any

from carpenter.core.records import record


@record(frozen=True, slots=True)
class Diagnostic:
    """`line` is 1-based (None: the whole file); `column` only where a problem has one."""

    path: str
    line: int | None
    message: str
    column: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON keys the reports have always written, in that order; `column` only when
        known (no diagnostic had one before this type, so existing outputs stay the same)."""
        out: dict[str, Any] = {"path": self.path, "line": self.line, "message": self.message}
        if self.column is not None:
            out["column"] = self.column
        return out

    def where(self) -> str:
        """`path:line` (or the path alone), as the text formats locate a problem."""
        return f"{self.path}:{self.line}" if self.line else self.path
