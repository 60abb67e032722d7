"""What a fixer sees: the parsed Dockerfile, the snapshot, the files being edited, and helpers
to find the instruction, shell command and word under a finding's span."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import canonicalize_name

from carpenter.fix.edits import Edit
from carpenter.model.dockerfile import Dockerfile, Instruction, Stage
from carpenter.model.shell import SimpleCommand, Word, all_commands
from carpenter.model.source import SourceFile, read_source
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import AptPackage, CondaPin, CudaBuild, PipPin, VcsPin
from carpenter.snapshot.lookup import Lookups
from carpenter.snapshot.model import Snapshot

# The payloads that name a package (Job._installed_names).
_NAMES_PACKAGE = (PipPin, CondaPin, AptPackage, VcsPin, CudaBuild)
PIP_NAMES = frozenset({"pip", "pip3", "pip3.10", "pip3.11", "pip3.12"})


@dataclass(frozen=True)
class Change:
    """One edit in one file (path as the finding names it)."""

    path: str
    edit: Edit


@dataclass
class Outcome:
    """A fixer's answer for one finding: changes to apply, or why it was left alone."""

    changes: list[Change] = field(default_factory=list)
    skipped: str = ""  # reason, when nothing is changed
    summary: str = ""  # short description of the fix ("torch -> torch==2.1.0")
    notes: list[str] = field(default_factory=list)  # warnings for the user (rotate a token...)
    build_flags: list[str] = field(default_factory=list)  # e.g. --secret id=hf_token,env=...
    new_files: dict[str, str] = field(default_factory=dict)  # path -> full text
    secrets: list[str] = field(default_factory=list)  # values to mask in every output

    @classmethod
    def skip(cls, reason: str) -> Outcome:
        return cls(skipped=reason)


@dataclass(eq=False)
class Job:
    """Fixing one Dockerfile and the context files its findings point into."""

    dockerfile: Dockerfile
    fs_path: str  # where the Dockerfile is on disk
    context_dir: str
    snapshot: Snapshot
    findings: list[Finding]
    strategy: str = "rewrite"
    max_jobs: int = 4
    sources: dict[str, SourceFile] = field(default_factory=dict)
    installed: set[str] = field(default_factory=set)  # canonical pip names installed anywhere
    resolved: dict[str, str] = field(default_factory=dict)  # --resolve results (name -> version)
    # Digests, commits and revisions as of the snapshot date; offline unless the run says so.
    lookups: Lookups | None = None
    # Each stage's pip closure at the cut-off (carpenter.fix.closure.Closure), when locking.
    closures: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.lookups is None:
            self.lookups = Lookups(self.snapshot, online=False)
        self.sources[self.dockerfile.path] = self.dockerfile.source
        self.installed = self._installed_names()
        # Sorted starts for bisection: one lookup per finding, not one scan per finding
        # (quadratic on a heredoc of thousands of commands).
        self._starts = [inst.offset for inst in self.dockerfile.instructions]
        self._commands: dict[int, tuple[list[int], list[SimpleCommand]]] = {}

    # -- files ------------------------------------------------------------------------------
    def source(self, path: str) -> SourceFile:
        if path not in self.sources:
            self.sources[path] = read_source(self.disk_path(path), path)
        return self.sources[path]

    def disk_path(self, path: str) -> str:
        return self.fs_path if path == self.dockerfile.path else path

    def is_dockerfile(self, finding: Finding) -> bool:
        return finding.path == self.dockerfile.path

    # -- model lookups ----------------------------------------------------------------------
    def instruction_at(self, offset: int) -> Instruction | None:
        at = bisect.bisect_right(self._starts, offset)
        while at > 0:  # instructions do not overlap: the last one starting here or before
            at -= 1
            inst = self.dockerfile.instructions[at]
            if inst.offset <= offset < max(inst.end_offset, inst.offset + 1):
                return inst
            if inst.offset < offset:
                return None
        return None

    def stage_at(self, offset: int) -> Stage | None:
        inst = self.instruction_at(offset)
        return inst.stage if inst else None

    def command_at(self, offset: int) -> tuple[Instruction, SimpleCommand] | None:
        inst = self.instruction_at(offset)
        if inst is None:
            return None
        starts, commands = self._sorted_commands(inst)
        at = bisect.bisect_right(starts, offset)
        while at > 0:  # the latest start that contains offset: the innermost ($(...)) command
            at -= 1
            cmd = commands[at]
            if cmd.offset <= offset < max(cmd.end_offset, cmd.offset + 1):
                return inst, cmd
        return None

    def _sorted_commands(self, inst: Instruction) -> tuple[list[int], list[SimpleCommand]]:
        cached = self._commands.get(id(inst))
        if cached is None:
            commands = sorted((cmd for _, cmd in all_commands(inst)),
                              key=lambda cmd: cmd.offset)
            cached = ([cmd.offset for cmd in commands], commands)
            self._commands[id(inst)] = cached
        return cached

    def word_at(self, offset: int) -> Word | None:
        found = self.command_at(offset)
        if not found:
            return None
        for word in found[1].words + found[1].assignments:
            if word.offset <= offset < word.end_offset:
                return word
        return None

    def word_span(self, finding: Finding) -> tuple[int, int]:
        """The finding's range, widened to the whole shell word when it is in the Dockerfile."""
        word = self.word_at(finding.offset) if self.is_dockerfile(finding) else None
        if word is not None:
            return word.offset, word.end_offset
        return finding.offset, finding.end_offset

    def root_image(self, stage: Stage | None) -> str:
        """The external image a stage ultimately starts from (following `FROM builder`)."""
        seen = 0
        while stage is not None and stage.is_stage_ref and seen < 64:
            stage = self.dockerfile.stage_named(stage.base or "")
            seen += 1
        return (stage.base or stage.base_raw) if stage else ""

    # -- snapshot lookups -------------------------------------------------------------------
    def version_for(self, name: str) -> tuple[str | None, str]:
        version, why = self.snapshot.version(name, self.installed)
        if version is None and canonicalize_name(name) in self.resolved:
            return self.resolved[canonicalize_name(name)], "resolved (--resolve)"
        return version, why

    def _installed_names(self) -> set[str]:
        """Names of pip packages any RUN installs (for overrides keyed on combinations)."""
        from carpenter.fix.pipreq import parse

        names: set[str] = set()
        for finding in self.findings:
            # Every payload that names a package counts, as `data["package"]` did before
            # payloads (overrides are keyed on pip names; the others simply never match).
            pin = finding.payload
            name = pin.package if isinstance(pin, _NAMES_PACKAGE) else None
            if isinstance(name, str):
                names.add(canonicalize_name(name))
        for inst in self.dockerfile.instructions:
            for _, cmd in all_commands(inst):
                args = pip_install_args(cmd)
                for word in args or []:
                    req = parse(word.text) if not word.text.startswith("-") else None
                    if req is not None:
                        names.add(canonicalize_name(req.name))
        return names


def pip_install_args(cmd: SimpleCommand) -> list[Word] | None:
    """Arguments after `install` for pip / python -m pip / uv pip; None for other commands."""
    words, _ = cmd.effective()
    argv = [w.text.rsplit("/", 1)[-1] for w in words]
    for i in range(len(argv)):
        if argv[i] in PIP_NAMES or (argv[i] == "uv" and argv[i + 1:i + 2] == ["pip"]) or (
                re.match(r"^python[0-9.]*$", argv[i]) and argv[i + 1:i + 3] == ["-m", "pip"]):
            rest = argv[i + 1:]
            if "install" in rest[:3]:
                start = i + 1 + rest.index("install") + 1
                return words[start:]
            return None
    return None
