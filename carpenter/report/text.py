"""Human output: findings grouped by file, each with a code frame and a caret under the column.

Colours follow rich's rules (NO_COLOR, non-tty → plain). Every printed source line and message
goes through `safe_text`, and the text of any `secret` finding is masked in every frame.
Lines are built as styled segments (`Styled`); only coloured output turns them into rich
`Text`, so plain output (pipes, CI logs, `--no-color`) never imports rich (~25 ms of a cold
scan).
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from carpenter.core.redact import redact
from carpenter.report.interface import (
    Output,
    Reporter,
    SourceCache,
    error_text,
    safe_text,
    summary_line,
)

if TYPE_CHECKING:
    from rich.text import Text

    from carpenter.core.diagnostics import Diagnostic
    from carpenter.fix.engine import FixResult
    from carpenter.rebuild.compare import CompareResult
    from carpenter.rebuild.interface import BuildResult
    from carpenter.scan.engine import ScanReport
    from carpenter.scan.finding import Finding
    from carpenter.smoke.result import Check, ServerResult, SmokeResult, TrainResult

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
        sources = SourceCache()
        grouped: dict[str, list[Finding]] = defaultdict(list)
        for finding in report.findings:
            grouped[finding.path].append(finding)
        # One block per file: rich's per-call overhead dominated large reports.
        blocks = [self._file(path, grouped[path], sources) for path in sorted(grouped)]
        blocks += [[self._error(error)] for error in report.errors]
        blocks.append([self._summary(report)])
        if self.color:
            return self._rich(blocks)
        return self._plain(blocks, len(report.errors) + 1)

    def _plain(self, blocks: list[list[Styled]], tail: int) -> str:
        # Errors and the summary were always printed by rich, which expands tabs by cell width:
        # the rare line with a tab still goes through it.
        files = ["\n".join(line.plain for line in block) + "\n" for block in blocks[:-tail]]
        return "".join(files) + "".join(
            self._rich([block], color=False) if "\t" in block[0].plain else block[0].plain + "\n"
            for block in blocks[-tail:])

    def _rich(self, blocks: list[list[Styled]], color: bool = True) -> str:
        from rich.console import Console
        from rich.text import Text

        buffer = io.StringIO()
        console = Console(file=buffer, width=self.width or 100, force_terminal=color,
                          no_color=not color, color_system="standard" if color else None,
                          highlight=False, soft_wrap=True, emoji=False, markup=False)
        for block in blocks:
            console.print(Text("\n").join(line.rich() for line in block))
        return buffer.getvalue()

    # -----------------------------------------------------------------------------------------

    def _file(self, path: str, findings: list[Finding], sources: SourceCache) -> list[Styled]:
        lines = [Styled(_printable(safe_text(path)), "bold underline")]
        secrets = _secret_texts(findings, sources)
        for finding in sorted(findings, key=lambda f: f.sort_key()):
            head = Styled("  ")
            head.append(f"{finding.line}:{finding.column}", "bold")
            head.append("  ")
            head.append(f"{finding.severity:<7}", STYLE[finding.severity])
            head.append(" ")
            head.append(finding.rule, "bold")
            head.append(f" {finding.name}  ", "dim")
            head.append(_printable(safe_text(finding.message, secrets)))
            lines.append(head)
            lines.extend(_frame(finding, sources, secrets))
            if finding.fix_hint:
                hint = Styled("      fix: ", "green")
                hint.append(_printable(safe_text(finding.fix_hint, secrets)))
                lines.append(hint)
        lines.append(Styled(""))
        return lines

    @staticmethod
    def _error(error: Diagnostic) -> Styled:
        text = Styled("error: ", "bold red")
        text.append(_printable(error_text(error)))
        return text

    @staticmethod
    def _summary(report: ScanReport) -> Styled:
        failing = report.failing()
        style = "bold red" if report.errors or failing else "bold green"
        return Styled(summary_line(report), style)


class Styled:
    """One output line: a base style over the whole line plus (text, style) segments, as in
    rich's `Text`; `plain` for pipes, `rich()` for colour."""

    __slots__ = ("base", "segments")

    def __init__(self, text: str = "", style: str = "") -> None:
        self.base = style
        self.segments: list[tuple[str, str]] = [(text, "")]

    def append(self, text: str, style: str = "") -> None:
        self.segments.append((text, style))

    @property
    def plain(self) -> str:
        return "".join(text for text, _ in self.segments)

    def rich(self) -> Text:
        from rich.text import Text

        text = Text(self.segments[0][0], style=self.base)
        for part, style in self.segments[1:]:
            text.append(part, style=style or None)
        return text


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


def _frame(finding: Finding, sources: SourceCache, secrets: tuple[str, ...]) -> list[Styled]:
    last = max(finding.end_line, finding.line)
    shown = range(finding.line, min(last, finding.line + MAX_FRAME_LINES - 1) + 1)
    width = len(str(shown[-1]))
    out: list[Styled] = []
    for number in shown:
        raw = sources.line(finding.path, number)
        if raw is None:
            break
        raw = raw.replace("\t", " ").translate(_CONTROLS)
        display = _clip(safe_text(raw, secrets))
        row = Styled(f"    {number:>{width}} │ ", "dim")
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
            caret = Styled(f"    {'':>{width}} │ ", "dim")
            caret.append(" " * start + "^" * (end - start), STYLE[finding.severity])
            out.append(caret)
    if out and last > shown[-1]:
        out.append(Styled(f"    {'':>{width}} │ … {last - shown[-1]} more line(s)", "dim"))
    return out


def _printable(text: str) -> str:
    return text.translate(_CONTROLS)


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + "…"


# ---------------------------------------------------------------------------------------------
# The other stages' results (plain text, no colour): `render(result, **options)` picks by type.

def render(result: object, **options: Any) -> Output:
    """Text for any stage result; the scan report keeps its reporter options (color, width)."""
    renderers: dict[str, Callable[..., Output]] = {
        "ScanReport": lambda r, **o: Output(TextReporter(**o).render(r)),
        "FixResult": _fix,
        "BuildResult": lambda r: Output(build_text(r) + "\n"),
        "CompareResult": _compare,
        "SmokeResult": lambda r: Output(smoke_text(r) + "\n"),
        "CheckResult": lambda r: Output(check_text(r.to_dict()) + "\n"),
    }
    renderer = renderers.get(type(result).__name__)
    if renderer is None:
        raise TypeError(f"no text rendering for {type(result).__name__}")
    return renderer(result, **options)


def _fix(result: FixResult, show_diff: bool = True) -> Output:
    """The diff on stdout (unless files were written), the reasons and the tally on stderr."""
    err = []
    for error in result.errors:
        err.append(f"carpenter: error: {error.where()}: {result.redact(error.message)}")
    err += [f"{r.path}:{r.line}:{r.column}: not fixed [{r.rule}] {r.reason}"
            for r in result.skipped]
    err += [f"{r.path}:{r.line}:{r.column}: [unsafe] [{r.rule}] {r.unsafe}"
            for r in result.applied if r.unsafe]
    err += [f"note: {result.redact(note)}" for note in result.notes]
    if result.build_flags:
        err.append("build with: docker build " + " ".join(result.build_flags) + " ...")
    err += [f"wrote {path}" for path in result.written]
    err.append(f"{len(result.applied)} fix(es) applied, {len(result.skipped)} not fixed "
               f"(snapshot {result.snapshot}, strategy {result.strategy})")
    return Output(result.diff() if show_diff else "", "".join(line + "\n" for line in err))


def _size(n: int | None) -> str:
    return f"{n / 1e6:.1f} MB" if n is not None else "size unknown"


def build_text(result: BuildResult) -> str:
    lines = []
    if result.built:
        short_id = (result.image_id or "")[:19]
        lines.append(f"built {result.tag} {short_id} ({_size(result.image_size)})"
                     f" in {result.duration_s:.1f} s [{result.backend}]")
        count = len(result.pip_freeze) if result.pip_freeze is not None else None
        lines.append(f"  pip freeze: {count} distributions" if count is not None
                     else "  pip freeze: unavailable")
    else:
        lines.append(f"FAILED {result.failure_class}: {result.message} "
                     f"({result.duration_s:.1f} s, {result.backend})")
        if result.evidence:
            where = f" (log line {result.evidence_line})" if result.evidence_line else ""
            lines.append(f"  evidence{where}: {result.evidence}")
        if result.exit_code is not None:
            lines.append(f"  exit code: {result.exit_code}")
    for sub in result.base_substitutions:
        lines.append(f"  base image substituted: {sub['ref']} -> {sub['image']} "
                     f"(line {sub['line']}); the result is for the stand-in")
    lines.extend(f"  note: {note}" for note in result.notes)
    lines.append(f"  log: {result.log_path}")
    return "\n".join(lines)


def _compare(result: CompareResult) -> Output:
    lines = ["== original", build_text(result.original), "== fixed (carpenter fix --out)"]
    if result.fixed is None:
        lines.append(f"fix unavailable: {result.fix_message}")
    else:
        lines.append(build_text(result.fixed))
    diff = result.pip_freeze_diff
    if diff is not None:
        lines.append(f"== pip freeze: {len(diff['only_original'])} only in original, "
                     f"{len(diff['only_fixed'])} only in fixed")
        lines.append("\n".join([f"  - {ln}" for ln in diff["only_original"]]
                               + [f"  + {ln}" for ln in diff["only_fixed"]]) or "  identical")
    return Output("".join(line + "\n" for line in lines))


SMOKE_VERSION_KEYS = ("python", "torch", "cuda", "transformers", "peft", "bitsandbytes",
                      "tokenizers", "accelerate")
SMOKE_PHASES = (("container_start", "container start"), ("imports", "imports"),
                ("training", "training"), ("checks", "checks"), ("gpu_checks", "GPU checks"),
                ("harness_total", "harness"), ("container_wall", "container"), ("total", "total"))


def _check_lines(checks: list[Check]) -> list[str]:
    width = max((len(c.name) for c in checks), default=0)
    return [f"    {c.status.upper():4}  {c.name:<{width}}  {c.detail}" for c in checks]


def _versions(result: SmokeResult) -> str:
    parts = []
    for key in SMOKE_VERSION_KEYS:
        if key in result.versions:
            value = result.versions[key]
            parts.append(f"{key} {value if value else '-'}")
    return ", ".join(parts) or "unknown"


def _indent(text: str, prefix: str = "      | ") -> list[str]:
    return [prefix + line for line in text.splitlines()]


def smoke_text(result: SmokeResult) -> str:
    """The smoke summary; every string passes through redact (log tails hold image output)."""
    short_id = (result.image_id or "")[7:19]
    lines = [f"carpenter smoke: {result.image}" + (f" ({short_id})" if short_id else "")]
    lines.append(f"  device:   {result.device or 'unknown'}")
    if result.gpu_fallback:
        lines.append(f"  GPU:      {result.gpu_fallback}")
    lines.append(f"  versions: {_versions(result)}")
    if result.losses:
        lines.append(f"  losses:   {result.losses[0]:.4f} -> {result.losses[-1]:.4f} "
                     f"({len(result.losses)} steps, {result.trainable_params} LoRA params)")
    lines.append("  checks:")
    lines += _check_lines(result.checks)
    timings = [f"{label} {result.timings[key]:.2f} s" for key, label in SMOKE_PHASES
               if key in result.timings]
    lines.append("  timings:  " + ", ".join(timings))
    if result.log_tail and any(c.failed for c in result.checks):
        lines.append("  harness stderr (last lines):")
        lines += _indent(result.log_tail)
    if result.server:
        lines += _server_lines(result.server)
    if result.train:
        lines += _train_lines(result.train)
    failed = [c for c in result.all_checks() if c.failed]
    verdict = "PASSED" if result.passed else f"FAILED ({len(failed)} check(s) failed)"
    lines.append(f"  result:   {verdict}")
    return redact("\n".join(lines))


def _server_lines(server: ServerResult) -> list[str]:
    lines = [f"  server ({server.contract} contract, port {server.port}):"]
    lines += [f"    note: {note}" for note in server.notes]
    lines += _check_lines(server.checks)
    if server.failure:
        lines.append(f"    failure: {server.failure['class']}: {server.failure['evidence']}")
        if server.failure.get("hint"):
            lines.append(f"      ({server.failure['hint']})")
    if server.latency_ms:
        lines.append("    latency: " + ", ".join(
            f"{k} {v:.0f} ms" for k, v in server.latency_ms.items()))
    if server.log_tail:
        lines.append("    server log (last lines):")
        lines += _indent(server.log_tail)
    return lines


def _train_lines(train: TrainResult) -> list[str]:
    capped = ", stopped at the wall-clock cap" if train.stopped_by_cap else ""
    lines = [f"  training ({' '.join(train.command)[:120]}): reached {train.stage}{capped}"]
    lines += [f"    note: {note}" for note in train.notes]
    lines += [f"    {stage}: {line}" for stage, line in train.evidence.items()]
    lines += _check_lines(train.checks)
    if train.failure:
        lines.append(f"    failure: {train.failure['class']}: {train.failure['evidence']}")
        if train.failure.get("hint"):
            lines.append(f"      ({train.failure['hint']})")
    if train.log_tail and train.failure:
        lines.append("    training log (last lines):")
        lines += _indent(train.log_tail)
    return lines


def check_text(data: dict[str, Any]) -> str:
    """`carpenter check`: the verdict first, then why, then one line per stage."""
    lines = [f"carpenter check: {data['path']}: {data['verdict'].upper()}"]
    lines += [f"  because: {redact(r)}" for r in data["reasons"]]
    lines += [f"  note: {redact(n)}" for n in data["notes"]]
    for name, stage in data["stages"].items():
        lines.append(f"  {name}: {_stage_summary(name, stage)} ({stage.get('duration_s', 0)}s)")
    if data.get("patch"):
        lines.append(f"  patch: {data['patch']}  (git apply from the submission folder)")
    if data.get("repaired"):
        lines.append(f"  repaired copy: {data['repaired']}")
    lines.append(f"  report: {data['out']}/report.json")
    return "\n".join(lines)


def _stage_summary(name: str, stage: dict[str, Any]) -> str:
    if stage.get("status") == "error":
        return f"error: {redact(str(stage.get('error')))}"
    if name == "scan":
        cats = ", ".join(f"{k} {v}" for k, v in sorted(stage.get("categories", {}).items()))
        return f"{len(stage.get('findings', []))} finding(s)" + (f": {cats}" if cats else "")
    if name == "fix":
        return (f"{stage['status']}, {stage.get('applied', 0)} applied, "
                f"{stage.get('skipped', 0)} skipped")
    if name == "rebuild":
        parts = []
        for which in ("original", "repaired"):
            build = stage.get(which)
            if build:
                state = build["status"] + (f" ({build['failure_class']})"
                                           if build.get("failure_class") else "")
                parts.append(f"{which} {state} in {build.get('duration_s', 0):.1f}s")
        return "; ".join(parts)
    if name == "smoke":
        return "; ".join(f"{w} {'passed' if (stage.get(w) or {}).get('passed') else 'failed'}"
                         for w in ("original", "repaired") if stage.get(w)) or str(
                             stage.get("reason", stage.get("status")))
    return str(stage.get("status"))
