"""Say in one line why a build failed, with the log line that proves it.

The patterns live in carpenter/data/rebuild/failure_classes.toml; this module only decides
which part of the log to read and in which order the evidence is weighed.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from carpenter.core.errors import ConfigError
from carpenter.core.resources import data_dir
from carpenter.rebuild.interface import BackendOutcome

Line = tuple[int, str]  # (line number in the log file, text)


@dataclass(frozen=True)
class ClassRule:
    name: str
    explain: str
    patterns: tuple[re.Pattern[str], ...]
    # Lines naming the cause, most specific first (preferred over the line that matched).
    evidence: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class CommandRule:
    """How to find the failing command's own line that names why it failed."""

    evidence: tuple[re.Pattern[str], ...]
    noise: tuple[re.Pattern[str], ...]


@dataclass
class Classification:
    failure_class: str
    message: str
    evidence: str | None
    evidence_line: int | None
    exit_code: int | None = None


def _compile(patterns: Sequence[str], flags: int = 0) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, flags) for p in patterns)


@lru_cache(maxsize=1)
def _load() -> tuple[tuple[ClassRule, ...], CommandRule]:
    path = data_dir() / "rebuild" / "failure_classes.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        rules = tuple(
            ClassRule(
                name=entry["name"],
                explain=entry["explain"],
                patterns=_compile(
                    entry["patterns"], re.IGNORECASE if entry.get("ignore_case") else 0
                ),
                evidence=_compile(entry.get("evidence", [])),
            )
            for entry in data["class"]
        )
        command = data["command-failed"]
        return rules, CommandRule(_compile(command["evidence"]), _compile(command["noise"]))
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError, re.error) as exc:
        raise ConfigError(f"cannot load failure classes: {exc}", path=str(path)) from exc


def load_rules() -> tuple[ClassRule, ...]:
    return _load()[0]


def command_rule() -> CommandRule:
    return _load()[1]


def explain(name: str) -> str:
    for rule in load_rules():
        if rule.name == name:
            return rule.explain
    return name


_LEGACY_STEP = re.compile(r"^Step \d+/\d+ : ")
_BK_VERTEX = re.compile(r"^#(\d+) ")
_BK_ERROR = re.compile(r"^#(\d+) ERROR")
_EXIT_CODE = re.compile(r"(?:returned a non-zero code|exit code):? (\d+)")
# BuildKit's plain progress prefixes a command's output with "#N <seconds> "; the error summary
# repeats it with "<seconds> " only.
_BK_OUTPUT = re.compile(r"^(?:#\d+ )?\d+\.\d+ ")
_LEGACY_RUNNING = re.compile(r"^\s*---> Running in ")


def failing_step(lines: Sequence[Line]) -> list[Line]:
    """The output of the step that failed (legacy: after the last `Step n/m`; BuildKit: the
    vertex with an ERROR plus the closing summary); the whole log when neither is found."""
    vertex = next((m.group(1) for _, t in reversed(lines) if (m := _BK_ERROR.match(t))), None)
    if vertex is not None:
        last_vertex_line = max(
            (i for i, (_, t) in enumerate(lines) if _BK_VERTEX.match(t)), default=-1
        )
        own = [ln for ln in lines if ln[1].startswith(f"#{vertex} ")]
        return own + list(lines[last_vertex_line + 1:])
    starts = [i for i, (_, t) in enumerate(lines) if _LEGACY_STEP.match(t)]
    return list(lines[starts[-1]:]) if starts else list(lines)


def current_step(lines: Sequence[Line]) -> Line | None:
    """The header of the step that was running last (for timeout evidence)."""
    for number, text in reversed(lines):
        if _LEGACY_STEP.match(text) or re.match(r"^#\d+ \[", text):
            return number, text
    return lines[-1] if lines else None


def exit_code_of(lines: Sequence[Line]) -> Line | None:
    for number, text in reversed(lines):
        if _EXIT_CODE.search(text):
            return number, text
    return None


def classify(
    outcome: BackendOutcome, lines: Sequence[Line], *, timeout_s: float, stall_s: float,
    memory_limited: bool,
) -> Classification:
    if outcome.timed_out or outcome.stalled:
        return _timeout(outcome, lines, timeout_s, stall_s)
    step = failing_step(lines)
    exit_line = exit_code_of(step)
    code = outcome.exit_code
    if code is None and exit_line is not None:
        code = int(_EXIT_CODE.search(exit_line[1]).group(1))  # type: ignore[union-attr]
    if code == 137 and memory_limited:
        # The cap's kill shows only as 137; the line saying so is the evidence.
        number, text = exit_line or (None, outcome.error)
        return Classification(
            "out-of-memory",
            f"{explain('out-of-memory')} (exit 137 under the memory cap)",
            text, number, code,
        )
    for rule in load_rules():
        # The last match: tools print the conclusion ("No matching distribution", "failed to
        # solve: ...") after the details.
        for number, text in reversed(step):
            if any(p.search(text) for p in rule.patterns):
                number, text = _most_specific(rule.evidence, step) or (number, text)
                return Classification(rule.name, rule.explain, text, number, code)
    if outcome.engine_error:
        return Classification(
            "engine-error", explain("engine-error"), outcome.engine_error, None, code
        )
    if code is not None:
        number, text = (
            command_evidence(step, exit_line) or exit_line or (None, outcome.error)
        )
        return Classification(
            "command-failed", f"a RUN step exited with code {code}", text, number, code
        )
    last = step[-1] if step else (None, outcome.error)
    return Classification(
        "engine-error", "the build failed without a recognisable cause", outcome.error or last[1],
        last[0] if outcome.error is None else None, code,
    )


def _most_specific(
    patterns: Sequence[re.Pattern[str]], lines: Sequence[Line], strip: bool = False
) -> Line | None:
    """The last line matching the first pattern (in the data file's order) that matches any."""
    for pattern in patterns:
        for number, text in reversed(lines):
            if pattern.search(_BK_OUTPUT.sub("", text) if strip else text):
                return number, text
    return None


def command_output(step: Sequence[Line], exit_line: Line | None) -> list[Line]:
    """What the failing command itself printed: BuildKit's timestamped lines of the failed
    vertex (the summary's copy when the vertex has none); legacy's lines between
    `---> Running in` and the executor's exit line."""
    vertex = [ln for ln in step if re.match(r"^#\d+ \d+\.\d+ ", ln[1])]
    if vertex:
        return vertex
    if any(_BK_VERTEX.match(t) for _, t in step):
        # BuildKit: the vertex's header and ERROR lines are the builder's, not the command's.
        return [ln for ln in step if _BK_OUTPUT.match(ln[1])]
    start = max((i + 1 for i, (_, t) in enumerate(step) if _LEGACY_RUNNING.match(t)), default=0)
    end = step.index(exit_line) if exit_line in step else len(step)
    return [ln for ln in step[start:end] if not _LEGACY_STEP.match(ln[1])]


def command_evidence(step: Sequence[Line], exit_line: Line | None) -> Line | None:
    """The command's line that names why it failed, else its last meaningful output line:
    the executor's "returned a non-zero code" says only that it failed."""
    rule = command_rule()
    output = [
        ln for ln in command_output(step, exit_line)
        if not any(p.search(_BK_OUTPUT.sub("", ln[1])) for p in rule.noise)
    ]
    return _most_specific(rule.evidence, output, strip=True) or (output[-1] if output else None)


def _timeout(
    outcome: BackendOutcome, lines: Sequence[Line], timeout_s: float, stall_s: float
) -> Classification:
    step = current_step(lines)
    if outcome.stalled:
        message = f"no build output for {stall_s:g} s (stall detector); the build was cancelled"
    else:
        message = f"wall-clock limit of {timeout_s:g} s reached; the build was cancelled"
    return Classification(
        "timeout", message, step[1] if step else None, step[0] if step else None
    )
