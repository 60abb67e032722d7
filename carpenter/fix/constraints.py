"""The constraints lock: each stage's resolved pip closure as a file in the build context,
switched on for that stage (PIP_CONSTRAINT for pip, UV_CONSTRAINT for uv).

Both strategies write it, so the dependencies nobody names are frozen too; `--strategy
constraints` leaves the submission's lines as they are and relies on it alone. The closure
comes from resolving the submission's own requirements (carpenter.fix.closure), so it never
pins outside the submission's ranges. PIP_CONSTRAINT also applies inside pip's isolated build
environments, which is why build tools stay out of it.
"""

from __future__ import annotations

import os
import re

from carpenter.fix.closure import (
    LOCK_PREFIX,
    Closure,
    choose,
    closures_of,
    lock_text,
    stage_lock_name,
)
from carpenter.fix.context import Change, Job, Outcome, pip_install_args
from carpenter.fix.edits import Edit
from carpenter.fix.pipreq import parse, split_quotes, unquoted_word_end
from carpenter.model.shell import all_commands
from carpenter.scan.finding import Finding

FILE_NAME = LOCK_PREFIX + ".txt"
BUILD_TOOLS = frozenset({"pip", "setuptools", "wheel"})
IMAGE_PATH = "/etc/carpenter-constraints.txt"
_EXPLICIT_PIN = re.compile(r"(?<![A-Za-z0-9._-])([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?"
                           r"\s*===?\s*[0-9]")


def constraints_text(job: Job, explicit: set[str]) -> str:
    """Without a resolved closure (no pip install found for the stage): the snapshot's pins
    minus the names the submission pins itself."""
    lines = [f"# Constraints from Carpenter snapshot {job.snapshot.name} (as of "
             f"{job.snapshot.as_of}); written by `carpenter fix --strategy constraints`.",
             "# Packages the submission pins itself are left out to avoid conflicts."]
    for name in sorted(job.snapshot.pypi):
        if name in explicit or name in BUILD_TOOLS:
            continue
        version, _ = job.version_for(name)
        lines.append(f"{name}=={version}")
    return "\n".join(lines) + "\n"


def explicit_pins(job: Job) -> set[str]:
    from packaging.utils import canonicalize_name

    texts = [s.text for s in job.sources.values()]
    return {canonicalize_name(m.group(1)) for t in texts for m in _EXPLICIT_PIN.finditer(t)}


def fix_pip_constraints(finding: Finding, job: Job) -> Outcome:
    """Per finding: only the unquoted `torch>=2` shell bug changes in the line itself."""
    outcome = Outcome(summary="pinned through " + FILE_NAME)
    if job.is_dockerfile(finding):
        text = job.dockerfile.source.text
        word = job.word_at(finding.offset)
        start, end = (word.offset, word.end_offset) if word else (finding.offset,
                                                                   finding.end_offset)
        if text[start:start + 1] not in "'\"" and text[end:end + 1] in "<>=!~" and \
                text[end:end + 1]:
            end = unquoted_word_end(text, end)
            original = text[start:end]
            if "'" not in original:
                outcome.changes.append(Change(finding.path, Edit(start, end, f"'{original}'")))
        req = parse(split_quotes(text[start:end])[1])
        if req is not None and _refusal(job, finding, req.name, str(req.specifier)):
            return Outcome.skip(_refusal(job, finding, req.name, str(req.specifier)))
        if req is not None and not job.closures and job.version_for(req.name)[0] is None:
            return Outcome.skip(f"{req.name}: not in snapshot {job.snapshot.name}")
    elif (pin := finding.payload) is not None and getattr(pin, "package", None):
        refusal = _refusal(job, finding, pin.package, pin.specifier or "")
        if refusal:
            return Outcome.skip(refusal)
    if job.closures:
        outcome.changes.extend(lock_setup_changes(job))
        outcome.new_files.update(lock_files(job))
        return outcome
    outcome.changes.extend(setup_changes(job))
    outcome.new_files.update(constraints_file(job))
    return outcome


def _refusal(job: Job, finding: Finding, name: str, specifier: str) -> str:
    stage = job.stage_at(finding.offset) if job.is_dockerfile(finding) else None
    path = None if job.is_dockerfile(finding) else job.disk_path(finding.path)
    return choose(closures_of(job.closures, stage, path), name, specifier,
                  cutoff_label(job)).refusal


def cutoff_label(job: Job) -> str:
    from carpenter.snapshot.create import cutoff_of

    return cutoff_of(job.snapshot.as_of).strftime("%Y-%m-%dT%H:%MZ")


def constraints_file(job: Job) -> dict[str, str]:
    # COPY sources are relative to the build context, so the file goes there.
    path = os.path.join(job.context_dir, FILE_NAME)
    return {path: constraints_text(job, explicit_pins(job))}


# -- the per-stage lock ----------------------------------------------------------------------

def lockable(job: Job) -> list[Closure]:
    """Closures that give a lock: resolved (no conflict) and with something to pin."""
    return [c for c in job.closures if not c.error and (c.lock_pins or c.lock_bounds)]


def lock_name(job: Job, closure: Closure) -> str:
    return FILE_NAME if len(lockable(job)) <= 1 else stage_lock_name(closure.stage)


def lock_files(job: Job) -> dict[str, str]:
    cutoff = cutoff_label(job)
    return {os.path.join(job.context_dir, lock_name(job, c)): lock_text(c, job.snapshot, cutoff)
            for c in lockable(job)}


def lock_setup_changes(job: Job) -> list[Change]:
    return [change for c in lockable(job)
            if (change := _lock_change(job, c, lock_name(job, c))) is not None]


def _lock_change(job: Job, closure: Closure, file_name: str) -> Change | None:
    """COPY + ENV just before the stage's first instruction that installs with pip (a pip
    line, or a conda environment file with a `pip:` list: conda's pip inherits the RUN's
    environment): other fixes insert after the FROM line (apt sources, secrets), and a shared
    insertion point made them collide."""
    stage = closure.stage
    source = job.dockerfile.source
    if "PIP_CONSTRAINT" in source.text[stage.instruction.offset:
                                       stage.instructions[-1].end_offset]:
        return None  # set already (by an earlier run, or by the submission itself)
    first = min(closure.inputs.installers, key=lambda inst: inst.offset, default=None)
    if first is None:
        return None
    at = source.text.rfind("\n", 0, first.offset) + 1  # the instruction's line start
    indent = source.text[at:first.offset]
    text = (f"{indent}COPY {file_name} {IMAGE_PATH}\n"
            f"{indent}ENV PIP_CONSTRAINT={IMAGE_PATH} UV_CONSTRAINT={IMAGE_PATH}\n")
    return Change(job.dockerfile.path, Edit(at, at, text))


def setup_changes(job: Job) -> list[Change]:
    """COPY + ENV right after the FROM of each stage that installs Python packages."""
    changes = []
    for stage in job.dockerfile.stages:
        installs = any(pip_install_args(cmd) is not None
                       for inst in stage.instructions for _, cmd in all_commands(inst))
        change = _setup_change(job, stage, FILE_NAME) if installs else None
        if change is not None:
            changes.append(change)
    return changes


def _setup_change(job: Job, stage, file_name: str) -> Change | None:
    source = job.dockerfile.source
    if "PIP_CONSTRAINT" in source.text[stage.instruction.offset:
                                       stage.instructions[-1].end_offset]:
        return None  # set already (by an earlier run, or by the submission itself)
    # At the start of the next line: the FROM line's end may get a digest appended.
    at = stage.instruction.end_offset
    lines = (f"COPY {file_name} {IMAGE_PATH}\n"
             f"ENV PIP_CONSTRAINT={IMAGE_PATH} UV_CONSTRAINT={IMAGE_PATH}")
    if source.text[at:at + 1] == "\n":
        at, text = at + 1, lines + "\n"
    else:
        text = "\n" + lines
    return Change(job.dockerfile.path, Edit(at, at, text))
