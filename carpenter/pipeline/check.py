"""`carpenter check`: scan → fix → rebuild → smoke for one submission, and one verdict."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carpenter.core.redact import safe_text
from carpenter.pipeline.stages import STAGES, CheckOptions, Submission, public, run_stage
from carpenter.pipeline.verdict import EXIT_CODES, decide


@dataclass
class CheckResult:
    """The pipeline's typed result; `stages` holds each stage's JSON-ready result by name."""

    path: str
    dockerfile: str
    verdict: str
    reasons: list[str] = field(default_factory=list)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    patch: str | None = None
    repaired: str | None = None
    out: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "dockerfile": self.dockerfile, "verdict": self.verdict,
                "reasons": [safe_text(r) for r in self.reasons],
                "notes": [safe_text(n) for n in self.notes], "patch": self.patch,
                "repaired": self.repaired, "out": self.out, "stages": self.stages,
                "timings": self.timings}


def assemble(sub: Submission, stages: dict[str, dict[str, Any]]) -> CheckResult:
    """The result from stored stage results (check and batch share it)."""
    verdict, reasons = decide(stages)
    fix = stages.get("fix") or {}
    build = stages.get("rebuild") or {}
    notes = list(build.get("base_notes") or [])
    if fix.get("patch_masked"):
        notes.append("the patch masks a secret it removes, so it will not `git apply`; "
                     "use the repaired copy")
    notes += list(fix.get("notes") or [])
    notes = list(dict.fromkeys(notes))
    timings = {name: result.get("duration_s", 0.0) for name, result in stages.items()}
    return CheckResult(path=sub.path, dockerfile=sub.dockerfile, verdict=verdict,
                       reasons=reasons, stages=stages, notes=notes, patch=fix.get("patch"),
                       repaired=fix.get("repaired"), out=sub.work, timings=timings)


def run_check(sub: Submission, options: CheckOptions,
              on_stage: Callable[[str], None] | None = None) -> CheckResult:
    """Run the wanted stages in order; `on_stage(name)` is called as each one starts."""
    wanted = [s for s in STAGES if s in options.stages]
    full: dict[str, dict[str, Any]] = {}  # with scan's in-memory findings, for fix
    started = time.monotonic()
    for name in wanted:
        if on_stage:
            on_stage(name)
        full[name] = run_stage(name, sub, options, full)
    result = assemble(sub, {name: public(r) for name, r in full.items()})
    result.timings["total"] = round(time.monotonic() - started, 3)
    return result


def submission_for(path: Path, dockerfile: str | None, out: Path) -> Submission:
    """A Submission for PATH (a folder, or a Dockerfile inside one)."""
    from carpenter.core.errors import InputError

    if not path.exists():
        raise InputError("no such file or folder", path=str(path))
    folder = path.resolve() if path.is_dir() else path.resolve().parent
    name = dockerfile or (path.name if path.is_file() else "Dockerfile")
    if not (folder / name).is_file():
        raise InputError("Dockerfile not found", path=str(folder / name))
    out.mkdir(parents=True, exist_ok=True)
    return Submission(id=folder.name, path=str(folder), dockerfile=name, work=str(out.resolve()))
