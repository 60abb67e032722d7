"""The reporter contract: one class per output format, each turning a ScanReport into text.

Every reporter passes any message or source text it prints through `carpenter.redact.redact`
(via `safe_text`) so no format can leak a full secret.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from carpenter.scan.finding import SEVERITY_RANK, Finding

if TYPE_CHECKING:
    from carpenter.scan.engine import ScanReport
    from carpenter.scan.registry import Rule

FORMATS = ("text", "json", "sarif", "github")


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
    raise ValueError(f"unknown format {fmt!r}")


# ---------------------------------------------------------------------------------------------
# Helpers shared by the formats


def safe_text(text: str, known: tuple[str, ...] = ()) -> str:
    """`text` with every secret-looking value masked (a no-op if redact is unavailable)."""
    if not text or (not known and text in _KNOWN_SAFE):
        return text
    return _redacted(text, known)


# Texts an earlier run already passed through safe_text and found unchanged by a second pass
# (the scan result cache keeps messages that way): no need to run the secret regexes again.
_KNOWN_SAFE: set[str] = set()


def redacted_fixed_point(text: str) -> str | None:
    """safe_text(text) when masking it again changes nothing (then it can be trusted as is
    later), else None."""
    once = safe_text(text)
    return once if safe_text(once) == once else None


def trust_redacted(texts: list[str]) -> None:
    """Mark texts that redacted_fixed_point() returned in an earlier run of this Carpenter."""
    _KNOWN_SAFE.update(texts)


@functools.lru_cache(maxsize=65536)
def _redacted(text: str, known: tuple[str, ...]) -> str:
    # Cached: a large scan repeats the same messages and paths thousands of times.
    try:
        from carpenter.redact import redact
    except ImportError:  # redact.py belongs to another stage; never fail a report over it
        return text
    return redact(text, known)


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
    return text


def rule_summary(rule: type[Rule]) -> str:
    """The docstring's first paragraph: the rule's one-line title."""
    doc = inspect.getdoc(rule) or ""
    first = doc.split("\n\n", 1)[0].strip()
    if first.startswith("##"):
        return rule.name.replace("-", " ")
    return " ".join(first.split())


def error_text(error: dict[str, Any]) -> str:
    where = str(error.get("path") or "")
    if error.get("line"):
        where += f":{error['line']}"
    message = safe_text(str(error.get("message", "")))
    return f"{where}: {message}" if where else message


class SourceCache:
    """Re-reads reported files for code frames and fingerprints (None when unreadable)."""

    def __init__(self) -> None:
        self._files: dict[str, Any] = {}

    def get(self, path: str) -> Any:
        if path not in self._files:
            from carpenter.errors import InputError
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


def write_atomic(path: str, text: str) -> None:
    """Write `text` to `path` via a temporary file and os.replace: never a partial file."""
    import os
    import tempfile

    from carpenter.errors import InputError

    shown = path
    target = os.path.realpath(path)  # a symlinked report stays a symlink
    if os.path.exists(target) and not os.path.isfile(target):
        # /dev/null, /dev/stdout or a FIFO: replacing it would swap out a device node.
        try:
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise InputError(f"cannot write output: {exc.strerror or exc}", path=shown) from None
        return
    folder = os.path.dirname(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".carpenter-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise InputError(f"cannot write output: {exc.strerror or exc}", path=shown) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would surprise readers of the report
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InputError(f"cannot write output: {exc.strerror or exc}", path=shown) from None
