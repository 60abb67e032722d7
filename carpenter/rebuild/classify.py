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


@dataclass
class Classification:
    failure_class: str
    message: str
    evidence: str | None
    evidence_line: int | None
    exit_code: int | None = None


@lru_cache(maxsize=1)
def load_rules() -> tuple[ClassRule, ...]:
    path = data_dir() / "rebuild" / "failure_classes.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return tuple(
            ClassRule(
                name=entry["name"],
                explain=entry["explain"],
                patterns=tuple(
                    re.compile(p, re.IGNORECASE if entry.get("ignore_case") else 0)
                    for p in entry["patterns"]
                ),
            )
            for entry in data["class"]
        )
    except (OSError, KeyError, tomllib.TOMLDecodeError, re.error) as exc:
        raise ConfigError(f"cannot load failure classes: {exc}", path=str(path)) from exc


def explain(name: str) -> str:
    for rule in load_rules():
        if rule.name == name:
            return rule.explain
    return name


_LEGACY_STEP = re.compile(r"^Step \d+/\d+ : ")
_BK_VERTEX = re.compile(r"^#(\d+) ")
_BK_ERROR = re.compile(r"^#(\d+) ERROR")
_EXIT_CODE = re.compile(r"(?:returned a non-zero code|exit code):? (\d+)")


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
                return Classification(rule.name, rule.explain, text, number, code)
    if outcome.engine_error:
        return Classification(
            "engine-error", explain("engine-error"), outcome.engine_error, None, code
        )
    if code is not None:
        number, text = exit_line or (None, outcome.error)
        return Classification(
            "command-failed", f"a RUN step exited with code {code}", text, number, code
        )
    last = step[-1] if step else (None, outcome.error)
    return Classification(
        "engine-error", "the build failed without a recognisable cause", outcome.error or last[1],
        last[0] if outcome.error is None else None, code,
    )


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
