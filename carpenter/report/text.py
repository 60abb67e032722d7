"""Human output: findings grouped by file, each with a code frame and a caret under the column.

Colours follow rich's rules (NO_COLOR, non-tty → plain). Every printed source line and message
goes through `safe_text`, and the text of any `secret` finding is masked in every frame.
"""

from __future__ import annotations

import io
from collections import defaultdict
from typing import TYPE_CHECKING

from carpenter.report.interface import (
    Reporter,
    SourceCache,
    error_text,
    safe_text,
    summary_line,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from carpenter.scan.engine import ScanReport
    from carpenter.scan.finding import Finding

STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
MAX_FRAME_LINES = 4
MAX_LINE_CHARS = 200  # a 10 MB one-line file must not produce a 10 MB frame
# C0 controls and DEL shown as Unicode control pictures: one character each, so carets still
# line up, and a Dockerfile cannot send escape sequences to the user's terminal.
_CONTROLS = {code: 0x2400 + code for code in range(32) if code not in (9, 10)}
_CONTROLS[127] = 0x2421


class TextReporter(Reporter):
    name = "text"

    def render(self, report: ScanReport) -> str:
        from rich.console import Console

        buffer = io.StringIO()
        console = Console(
            file=buffer,
            width=self.width or 100,
            force_terminal=self.color,
            no_color=not self.color,
            color_system="standard" if self.color else None,
            highlight=False,
            soft_wrap=True,
            emoji=False,
            markup=False,
        )
        sources = SourceCache()
        grouped: dict[str, list[Finding]] = defaultdict(list)
        for finding in report.findings:
            grouped[finding.path].append(finding)
        for path in sorted(grouped):
            self._file(console, path, grouped[path], sources)
        for error in report.errors:
            console.print(self._error(error))
        console.print(self._summary(report))
        return buffer.getvalue()

    # -----------------------------------------------------------------------------------------

    def _file(
        self, console: Console, path: str, findings: list[Finding], sources: SourceCache
    ) -> None:
        from rich.text import Text

        # One print per file: rich's per-call overhead dominated large reports.
        lines = [Text(_printable(safe_text(path)), style="bold underline")]
        secrets = _secret_texts(findings, sources)
        for finding in sorted(findings, key=lambda f: f.sort_key()):
            head = Text("  ")
            head.append(f"{finding.line}:{finding.column}", style="bold")
            head.append("  ")
            head.append(f"{finding.severity:<7}", style=STYLE[finding.severity])
            head.append(" ")
            head.append(finding.rule, style="bold")
            head.append(f" {finding.name}  ", style="dim")
            head.append(_printable(safe_text(finding.message, secrets)))
            lines.append(head)
            lines.extend(_frame(finding, sources, secrets))
            if finding.fix_hint:
                hint = Text("      fix: ", style="green")
                hint.append(_printable(safe_text(finding.fix_hint, secrets)))
                lines.append(hint)
        lines.append(Text(""))
        if self.color:
            console.print(Text("\n").join(lines))
        else:  # plain output needs none of rich's rendering, only the text
            console.file.write("\n".join(line.plain for line in lines) + "\n")

    @staticmethod
    def _error(error: dict) -> Text:
        from rich.text import Text

        text = Text("error: ", style="bold red")
        text.append(_printable(error_text(error)))
        return text

    @staticmethod
    def _summary(report: ScanReport) -> Text:
        from rich.text import Text

        failing = report.failing()
        style = "bold red" if report.errors or failing else "bold green"
        return Text(summary_line(report), style=style)


def _secret_texts(findings: list[Finding], sources: SourceCache) -> tuple[str, ...]:
    """Source text under every secret finding, masked wherever it appears in a frame."""
    found: list[str] = []
    for finding in findings:
        if finding.category != "secret":
            continue
        source = sources.get(finding.path)
        if source is None or finding.end_offset <= finding.offset:
            continue
        for piece in source.text[finding.offset : finding.end_offset].split("\n"):
            if len(piece.strip()) >= 4:
                found.append(piece.strip())
    return tuple(found)


def _frame(finding: Finding, sources: SourceCache, secrets: tuple[str, ...]) -> list[Text]:
    from rich.text import Text

    last = max(finding.end_line, finding.line)
    shown = range(finding.line, min(last, finding.line + MAX_FRAME_LINES - 1) + 1)
    width = len(str(shown[-1]))
    out: list[Text] = []
    for number in shown:
        raw = sources.line(finding.path, number)
        if raw is None:
            break
        raw = raw.replace("\t", " ").translate(_CONTROLS)
        display = _clip(safe_text(raw, secrets))
        row = Text(f"    {number:>{width}} │ ", style="dim")
        row.append(display)
        out.append(row)
        if number == finding.line:
            start = len(safe_text(raw[: finding.column - 1], secrets))
            if last == finding.line:
                end = len(safe_text(raw[: finding.end_column - 1], secrets))
            else:
                end = len(display)
            start = min(start, MAX_LINE_CHARS)
            end = min(max(end, start + 1), MAX_LINE_CHARS + 1)
            caret = Text(f"    {'':>{width}} │ ", style="dim")
            caret.append(" " * start + "^" * (end - start), style=STYLE[finding.severity])
            out.append(caret)
    if out and last > shown[-1]:
        out.append(Text(f"    {'':>{width}} │ … {last - shown[-1]} more line(s)", style="dim"))
    return out


def _printable(text: str) -> str:
    return text.translate(_CONTROLS)


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + "…"
