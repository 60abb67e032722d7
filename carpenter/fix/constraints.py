"""`--strategy constraints`: one constraints file with the snapshot's pins, switched on for
every stage that installs Python packages (PIP_CONSTRAINT for pip, UV_CONSTRAINT for uv).

It pins the whole dependency closure (the rewrite strategy pins only the names the files
mention) but needs a new file in the build context, and PIP_CONSTRAINT also applies inside
pip's isolated build environments, where a pinned setuptools or numpy can break an sdist build.
"""

from __future__ import annotations

import os
import re

from carpenter.fix.context import Change, Job, Outcome, pip_install_args
from carpenter.fix.edits import Edit
from carpenter.fix.pipreq import parse, split_quotes, unquoted_word_end
from carpenter.model.shell import all_commands
from carpenter.scan.finding import Finding

FILE_NAME = "carpenter-constraints.txt"
BUILD_TOOLS = frozenset({"pip", "setuptools", "wheel"})
IMAGE_PATH = "/etc/carpenter-constraints.txt"
_EXPLICIT_PIN = re.compile(r"(?<![A-Za-z0-9._-])([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?"
                           r"\s*===?\s*[0-9]")


def constraints_text(job: Job, explicit: set[str]) -> str:
    lines = [f"# Constraints from Carpenter snapshot {job.snapshot.name} (as of "
             f"{job.snapshot.as_of}); written by `carpenter fix --strategy constraints`.",
             "# Packages the submission pins itself are left out to avoid conflicts."]
    for name in sorted(job.snapshot.pypi):
        # Build tooling stays free: PIP_CONSTRAINT also binds pip's isolated build
        # environments, where an old setuptools breaks newer sdists.
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
        if req is not None and job.version_for(req.name)[0] is None:
            return Outcome.skip(f"{req.name}: not in snapshot {job.snapshot.name}")
    outcome.changes.extend(setup_changes(job))
    outcome.new_files.update(constraints_file(job))
    return outcome


def constraints_file(job: Job) -> dict[str, str]:
    # COPY sources are relative to the build context, so the file goes there.
    path = os.path.join(job.context_dir, FILE_NAME)
    return {path: constraints_text(job, explicit_pins(job))}


def setup_changes(job: Job) -> list[Change]:
    """COPY + ENV right after the FROM of each stage that installs Python packages."""
    changes = []
    source = job.dockerfile.source
    for stage in job.dockerfile.stages:
        installs = any(pip_install_args(cmd) is not None
                       for inst in stage.instructions for _, cmd in all_commands(inst))
        if not installs or "PIP_CONSTRAINT" in source.text[stage.instruction.offset:
                                                           stage.instructions[-1].end_offset]:
            continue
        # At the start of the next line: the FROM line's end may get a digest appended.
        at = stage.instruction.end_offset
        lines = (f"COPY {FILE_NAME} {IMAGE_PATH}\n"
                 f"ENV PIP_CONSTRAINT={IMAGE_PATH} UV_CONSTRAINT={IMAGE_PATH}")
        if source.text[at:at + 1] == "\n":
            at, text = at + 1, lines + "\n"
        else:
            text = "\n" + lines
        changes.append(Change(job.dockerfile.path, Edit(at, at, text)))
    return changes
