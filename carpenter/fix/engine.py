"""`fix` entry point: scan, turn each fixable finding into edits, merge them per file.

fix_paths() computes everything in memory; writing (in place or into a copy) is a separate
step (carpenter.fix.output), so a failure never leaves a half-fixed submission.
"""

from __future__ import annotations

import bisect
import multiprocessing
import os
import sys
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from itertools import repeat
from typing import Any

from packaging.utils import canonicalize_name

from carpenter.core.diagnostics import Diagnostic
from carpenter.core.errors import CarpenterError, InputError
from carpenter.core.redact import redact, remember, remembered
from carpenter.fix.apt import fix_apt
from carpenter.fix.closure import closure_notes, resolve_stages
from carpenter.fix.constraints import fix_pip_constraints, lock_files, lock_setup_changes
from carpenter.fix.context import Job, Outcome, pip_install_args
from carpenter.fix.cuda import fix_cuda_build
from carpenter.fix.edits import (
    Edit,
    apply_edits,
    compose,
    conflicts_with,
    overlaps,
    unified_diff,
)
from carpenter.fix.pinning import fix_base_image, fix_conda, fix_download, fix_git, fix_pip
from carpenter.fix.secrets import fix_secret
from carpenter.model.dockerfile import Dockerfile, load_dockerfile, parse_dockerfile
from carpenter.model.source import SourceFile
from carpenter.scan.engine import ScanOptions, discover, scan_dockerfile
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import (
    AptPackage,
    CondaPin,
    CudaBuild,
    Download,
    GitClone,
    ImageDigest,
    PipPin,
    SecretMove,
    VcsPin,
)
from carpenter.scan.registry import all_rules
from carpenter.snapshot.lookup import Lookups
from carpenter.snapshot.mirrors import configured_mirrors
from carpenter.snapshot.model import Snapshot
from carpenter.snapshot.registry import Mirror

STRATEGIES = ("rewrite", "constraints")
# Fixes that change what the build does, not only what it pins (ruff's unsafe fixes): the
# user should look at them. Applied by default (a token left in an image is worse) but
# marked; `--no-unsafe-fixes` leaves them out.
UNSAFE = {
    "secret": "deletes the ENV/ARG that held a token: the build no longer sees it as a "
              "variable (it becomes a build secret); rotate the token",
    "cuda-source-build": "changes how the extension is installed (prebuilt wheel or "
                         "bounded source build)",
}
# Processed first: their edits cover spans other findings also point at (the flash-attn
# requirement is both a CUDA build and an unpinned package).
PRIORITY = {"cuda-source-build": 0, "secret": 1}


@dataclass
class FixOptions:
    snapshot: Snapshot
    strategy: str = "rewrite"
    scan: ScanOptions = field(default_factory=ScanOptions)
    max_jobs: int = 4
    jobs: int = 1  # worker processes over Dockerfiles
    resolve: bool = False  # resolve packages missing from the snapshot (needs the network)
    online: bool = False  # look up digests, commits and revisions (the CLI's default)
    unsafe_fixes: bool = True  # apply the fixes of UNSAFE categories (marked either way)
    lock: bool = True  # resolve each stage's pip closure and write it as a constraints lock
    # Registry mirrors asked before the registries; None: the environment's and the Docker
    # daemon's (snapshot.mirrors.configured_mirrors), read when the first look-up needs them.
    registry_mirrors: tuple[Mirror, ...] | None = None

    @cached_property
    def fix_scan(self) -> ScanOptions:
        return fix_scan_options(self.scan)

    @cached_property
    def lookups(self) -> Lookups:
        """Shared by every Dockerfile of the run, so each source is asked once."""
        mirrors = () if not self.online else (
            configured_mirrors() if self.registry_mirrors is None else self.registry_mirrors)
        return Lookups(self.snapshot, online=self.online, mirrors=mirrors)


@dataclass
class FixRecord:
    rule: str
    category: str
    path: str
    line: int
    column: int
    message: str
    status: str  # "applied" | "skipped"
    reason: str = ""
    summary: str = ""
    unsafe: str = ""  # why the fix changes behaviour (UNSAFE); empty for a plain pin

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FileChange:
    path: str  # as shown (relative to the working directory when the input was relative)
    disk_path: str
    before: str
    after: str
    new_file: bool = False
    # Each edit with the record that made it (SARIF `fixes` attach edits to their finding).
    edits: list[tuple[Edit, FixRecord]] = field(default_factory=list, repr=False)

    @property
    def changed(self) -> bool:
        return self.before != self.after or self.new_file


@dataclass
class FixResult:
    """The fix stage's result: what was applied or skipped, the new file texts, and what the
    user must know (notes, build flags); `written` is filled in once files are written."""

    snapshot: str
    strategy: str
    files_scanned: list[str] = field(default_factory=list)
    records: list[FixRecord] = field(default_factory=list)
    files: list[FileChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    build_flags: list[str] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form (`carpenter fix --format json`); every text is redacted."""
        return {
            "snapshot": self.snapshot,
            "strategy": self.strategy,
            "files_scanned": self.files_scanned,
            "applied": [r.to_json() for r in self.applied],
            "skipped": [r.to_json() for r in self.skipped],
            "changed_files": [f.path for f in self.files if f.changed],
            "written": self.written,
            "diff": self.diff(),
            "notes": [self.redact(n) for n in self.notes],
            "build_flags": self.build_flags,
            "errors": [{**e.to_dict(), "message": self.redact(e.message)} for e in self.errors],
        }

    @property
    def applied(self) -> list[FixRecord]:
        return [r for r in self.records if r.status == "applied"]

    @property
    def skipped(self) -> list[FixRecord]:
        return [r for r in self.records if r.status == "skipped"]

    def diff(self) -> str:
        text = "".join(unified_diff(f.path, f.before, f.after, new_file=f.new_file)
                       for f in self.files if f.changed)
        return self.redact(text)

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def exit_code(self) -> int:
        if self.errors:
            return 2
        return 1 if self.skipped else 0


@dataclass
class _FileState:
    path: str
    disk_path: str
    before: str
    edits: list[Edit] = field(default_factory=list)
    owners: list[FixRecord] = field(default_factory=list)
    new_file: bool = False
    # (offset, end_offset, index in edits), sorted: accepted edits never overlap, so a new
    # edit is checked against its neighbours only (a 10,000-line heredoc of pip installs
    # made the all-pairs check quadratic).
    index: list[tuple[int, int, int]] = field(default_factory=list)
    known: set[Edit] = field(default_factory=set)

    def add(self, edit: Edit, owner: FixRecord) -> None:
        bisect.insort(self.index, (edit.offset, edit.end_offset, len(self.edits)))
        self.edits.append(edit)
        self.owners.append(owner)
        self.known.add(edit)

    def replace(self, position: int, edit: Edit) -> None:
        """Swap an accepted insertion for a composed one at the same point."""
        self.known.discard(self.edits[position])
        self.edits[position] = edit
        self.known.add(edit)

    def clashes(self, edit: Edit) -> bool:
        """conflicts_with(edit, self.edits), looking only where a conflict can be."""
        at = bisect.bisect_right(self.index, (edit.end_offset, sys.maxsize, sys.maxsize))
        while at > 0:
            at -= 1
            other = self.edits[self.index[at][2]]
            if overlaps(other, edit):
                return True
            if other.end_offset < edit.offset:
                return False  # ends grow with offsets: nothing earlier reaches the edit
        return False

    def containing(self, start: int, end: int) -> FixRecord | None:
        """The owner of the accepted edit whose replaced text holds [start, end)."""
        at = bisect.bisect_right(self.index, (start, sys.maxsize, sys.maxsize))
        while at > 0:
            at -= 1
            offset, end_offset, position = self.index[at]
            if end_offset < end:
                return None
            if offset <= start:
                return self.owners[position]
        return None


def fixable(finding: Finding) -> bool:
    return finding.fixable or finding.category == "host-local-artifact"


def fix_paths(paths: Iterable[str], options: FixOptions) -> FixResult:
    files, errors = discover(paths)
    report = FixResult(options.snapshot.name, options.strategy, files_scanned=files,
                       errors=list(errors))
    states: dict[str, _FileState] = {}
    if options.jobs > 1 and len(files) > 8:
        # Each Dockerfile is scanned and fixed in a worker; edits are merged here, where a
        # file shared by two Dockerfiles (a requirements.txt) gets each edit once.
        # forkserver, not fork: forked workers deadlocked here (a lock inherited from the
        # parent), and a fresh interpreter per worker costs ~1 s once.
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(max_workers=options.jobs, mp_context=context) as pool:
            partials = list(pool.map(_fix_one, files, repeat(options), chunksize=8))
    else:
        partials = [_fix_one(path, options) for path in files]
    for partial in partials:
        _merge(partial, report, states)
    remember(report.secrets)
    report.files = [_file_change(s) for s in states.values()]
    report.files = [change for change in report.files if _parses_as_well(change, report)]
    report.notes = list(dict.fromkeys(report.notes))
    report.build_flags = list(dict.fromkeys(report.build_flags))
    return report


def _parses_as_well(change: FileChange, report: FixResult) -> bool:
    """A fixed Dockerfile must parse no worse than its input (`ENV TOKEN=<cut off>` once
    became an empty file). When it would, the file is left alone and the run fails."""
    if not change.changed or change.path not in report.files_scanned:
        return True
    before = parse_dockerfile(SourceFile(change.path, change.before))
    after = parse_dockerfile(SourceFile(change.path, change.after))
    worse = len(after.problems) > len(before.problems) or (
        before.instructions and not after.instructions)
    if not worse:
        return True
    known = {(p.message, p.line) for p in before.problems}
    new = next((p for p in after.problems if (p.message, p.line) not in known), None)
    why = new.message if new else "no instruction would be left"
    report.errors.append(Diagnostic(
        change.path, new.line if new else None,
        f"fix refused: the fixed file would parse worse than the original ({why}); nothing "
        "was changed"))
    for record in report.records:
        if record.path == change.path and record.status == "applied":
            record.status = "skipped"
            record.reason = "the fixed file would not parse as well as the original"
    return False


def _fix_one(path: str, options: FixOptions) -> tuple[FixResult, dict[str, _FileState]]:
    partial = FixResult(options.snapshot.name, options.strategy)
    states: dict[str, _FileState] = {}
    known_before = remembered()
    try:
        job = _job(path, options, partial)
    except InputError as exc:
        partial.errors.append(Diagnostic(exc.path or path, exc.line, exc.message))
        return partial, states
    if job is not None:
        _fix_job(job, options, partial, states)
    # Secrets the scan identified in a worker: the parent prints the reasons and the diff.
    partial.secrets.extend(sorted(remembered() - known_before))
    return partial, states


def _merge(partial: tuple[FixResult, dict[str, _FileState]], report: FixResult,
           states: dict[str, _FileState]) -> None:
    part, part_states = partial
    losers: set[int] = set()
    for key, state in part_states.items():
        known = states.get(key)
        if known is None:
            continue
        for edit, owner in zip(state.edits, state.owners, strict=True):
            if edit not in known.known and known.clashes(edit):
                losers.add(id(owner))
    for record in part.records:
        if id(record) in losers:
            record.status = "skipped"
            record.reason = "overlaps the fix made for another Dockerfile sharing this file"
    for key, state in part_states.items():
        known = states.setdefault(key, _FileState(state.path, state.disk_path, state.before,
                                                  new_file=state.new_file))
        for edit, owner in zip(state.edits, state.owners, strict=True):
            if id(owner) not in losers and edit not in known.known:
                known.add(edit, owner)
    report.records.extend(part.records)
    report.errors.extend(part.errors)
    report.notes.extend(part.notes)
    report.build_flags.extend(part.build_flags)
    report.secrets.extend(part.secrets)


def fix_findings(path: str, findings: list[Finding], options: FixOptions) -> FixResult:
    """Fix given findings of one Dockerfile (no scan): for callers that already scanned."""
    report = FixResult(options.snapshot.name, options.strategy, files_scanned=[path])
    dockerfile = load_dockerfile(path, path, options.scan.build_args)
    job = _new_job(dockerfile, path, options, findings)
    states: dict[str, _FileState] = {}
    _fix_job(job, options, report, states)
    report.files = [_file_change(s) for s in states.values()]
    report.files = [change for change in report.files if _parses_as_well(change, report)]
    return report


def fix_scan_options(scan: ScanOptions) -> ScanOptions:
    """The user's scan settings minus rules whose findings fix neither fixes nor reports:
    fix stays as fast as the rules it acts on (context-file secret scans are skipped)."""
    idle = tuple(rule_id for rule_id, rule in all_rules().items()
                 if not (rule.fixable or rule.category == "host-local-artifact"))
    return replace(scan, config=replace(scan.config, ignore=scan.config.ignore + idle))


def _job(path: str, options: FixOptions, report: FixResult) -> Job | None:
    dockerfile = load_dockerfile(path, path, options.scan.build_args)
    if dockerfile.truncated:  # only its beginning was read: an edit would drop the rest
        report.errors.append({"path": path, "line": dockerfile.problems[-1].line,
                              "message": "too large to fix: " + dockerfile.problems[-1].message})
        return None
    result = scan_dockerfile(dockerfile, options.fix_scan, _context_dir(path, options))
    report.errors.extend(result.errors)
    return _new_job(dockerfile, path, options, result.findings)


def _context_dir(path: str, options: FixOptions) -> str:
    return options.scan.context or os.path.dirname(path) or "."


def _new_job(dockerfile: Dockerfile, path: str, options: FixOptions,
             findings: list[Finding]) -> Job:
    return Job(dockerfile, path, _context_dir(path, options), options.snapshot,
               [f for f in findings if fixable(f)], strategy=options.strategy,
               max_jobs=options.max_jobs, lookups=options.lookups)


def _fix_job(job: Job, options: FixOptions, report: FixResult,
             states: dict[str, _FileState]) -> None:
    if options.resolve:
        job.resolved = _resolve_missing(job)
    if options.lock:
        wheels = frozenset(f.data["package"] for f in job.findings
                           if f.category == "cuda-source-build"
                           and isinstance(f.data.get("package"), str))
        job.closures = resolve_stages(job.dockerfile, job.context_dir, job.snapshot,
                                      options.online, wheels, job.lookups)
        report.notes.extend(closure_notes(job))
    for note in _override_notes(job):
        report.notes.append(note)
    ordered = sorted(job.findings, key=lambda f: (PRIORITY.get(f.category, 9), f.path,
                                                  f.offset))
    for finding in ordered:
        # Rules mask secrets in their messages themselves (team contract).
        record = FixRecord(finding.rule, finding.category, finding.path, finding.line,
                           finding.column, finding.message, "skipped")
        report.records.append(record)
        record.unsafe = UNSAFE.get(finding.category, "")
        if record.unsafe and not options.unsafe_fixes:
            record.reason = f"unsafe fix left out ({record.unsafe}); pass --unsafe-fixes"
            continue
        cover = _covering(finding, job, states)
        if cover is not None:
            record.status = "applied"
            record.reason = f"covered by the fix for {cover.rule} at line {cover.line}"
            continue
        try:
            outcome = _run_fixer(finding, job)
        except CarpenterError as exc:
            record.reason = exc.located()
            continue
        record.summary = _mask_known(outcome.summary, outcome.secrets)
        report.secrets.extend(outcome.secrets)
        if outcome.skipped:
            record.reason = _mask_known(outcome.skipped, outcome.secrets)
            continue
        reason = _accept(outcome, job, states, record)
        if reason:
            record.reason = reason
            continue
        record.status = "applied"
        report.notes.extend(outcome.notes)
        report.build_flags.extend(outcome.build_flags)
    if options.lock:
        _lock(job, report, states)


def _lock(job: Job, report: FixResult, states: dict[str, _FileState]) -> None:
    """Write each stage's closure lock even when no finding asked for it: pinned lines
    still pull floating dependencies."""
    outcome = Outcome(lock_setup_changes(job), new_files=lock_files(job))
    if not outcome.changes and not outcome.new_files:
        return
    first = job.dockerfile.stages[0].instruction if job.dockerfile.stages else None
    record = FixRecord("LOCK", "unpinned-pip", job.dockerfile.path,
                       first.start_line if first else 1, 1,
                       "the pip closure of each installing stage is locked", "applied",
                       summary="constraints lock: " + ", ".join(
                           os.path.basename(p) for p in outcome.new_files))
    # The record owns the edits (for overlap messages) but is no finding: not listed.
    reason = _accept(outcome, job, states, record)
    if reason:
        report.notes.append(f"constraints lock not written: {reason}")


def _covering(finding: Finding, job: Job, states: dict[str, _FileState]) -> FixRecord | None:
    """The applied fix whose replaced text contains this finding's whole span, if any."""
    state = states.get(_real(job.disk_path(finding.path)))
    if state is None or finding.end_offset <= finding.offset:
        return None
    return state.containing(finding.offset, finding.end_offset)


def _run_fixer(finding: Finding, job: Job) -> Outcome:
    if finding.category == "host-local-artifact":
        return Outcome.skip("cannot be fixed automatically: " + finding.message)
    # One fixer per payload type (carpenter.scan.payloads): the rule and its fix share the
    # struct, so a finding without one (a cached row, a hand-made finding) is never guessed at.
    payload = finding.payload
    if isinstance(payload, PipPin):
        return _fix_pip_pin(finding, job)
    if isinstance(payload, SecretMove):
        return fix_secret(finding, payload, job)
    if isinstance(payload, CudaBuild):
        return fix_cuda_build(finding, payload, job)
    if isinstance(payload, ImageDigest):
        return fix_base_image(finding, payload, job)
    if isinstance(payload, CondaPin):
        return fix_conda(finding, job)
    if isinstance(payload, (GitClone, VcsPin)):
        return fix_git(finding, job)
    if isinstance(payload, AptPackage):
        return fix_apt(finding, job)
    if isinstance(payload, Download):
        return fix_download(finding, job)
    if finding.category == "shell-bug":
        return Outcome.skip("shell bug outside a pip install: fix it by hand")
    return Outcome.skip(f"no automatic fix for {finding.category} findings")


def _mask_known(text: str, secrets: list[str]) -> str:
    return redact(text, secrets) if secrets else text


def _in_pip_install(finding: Finding, job: Job) -> bool:
    located = job.command_at(finding.offset) if job.is_dockerfile(finding) else None
    return located is not None and pip_install_args(located[1]) is not None


def _fix_pip_pin(finding: Finding, job: Job) -> Outcome:
    """A PipPin: a RUN or requirements-file requirement, an environment.yml `pip:` entry, or
    an unquoted specifier (SH001) that fix_pip quotes and pins when it is in a pip install."""
    if finding.category == "shell-bug" and not _in_pip_install(finding, job):
        return Outcome.skip("shell bug outside a pip install: fix it by hand")
    if finding.category == "unpinned-pip" and job.strategy == "constraints":
        return fix_pip_constraints(finding, job)
    return fix_pip(finding, job)


def _accept(outcome: Outcome, job: Job, states: dict[str, _FileState],
            record: FixRecord) -> str:
    """Add the outcome's edits unless one collides with an already accepted fix."""
    staged: dict[str, list[Edit]] = {}
    merged: list[tuple[_FileState, int, Edit]] = []  # accepted edits that absorb a new one
    for change in outcome.changes:
        state = _state(change.path, job, states)
        if change.edit in state.known:
            continue  # the same edit from an earlier finding (one apt line per stage)
        if state.clashes(change.edit) or conflicts_with(change.edit,
                                                        staged.get(change.path, [])):
            absorbed = _absorb(state, change.edit, staged.get(change.path, []))
            if absorbed is not None:
                merged.append((state, *absorbed))
                continue
            owner = next((r for r, e in zip(state.owners, state.edits, strict=True)
                          if e == change.edit or _touches(e, change.edit)), None)
            where = f" ({owner.rule} at line {owner.line})" if owner else ""
            return f"overlaps a fix already applied{where}"
        staged.setdefault(change.path, []).append(change.edit)
    for path, text in outcome.new_files.items():
        _stage_new_file(path, text, states, record)
    for state, index, edit in merged:
        state.replace(index, edit)
    for path, edits in staged.items():
        state = _state(path, job, states)
        for edit in edits:
            state.add(edit, record)
    return ""


def _absorb(state: _FileState, edit: Edit, staged: list[Edit]) -> tuple[int, Edit] | None:
    """(index, composed edit) when `edit` composes with the one accepted insertion it collides
    with (a secret's `export ... && ` and CUDA's `MAX_JOBS=4 ` before one command): applying
    both now keeps `fix` idempotent, where skipping one left it for a second run."""
    hits = [i for i, other in enumerate(state.edits) if overlaps(other, edit)]
    if len(hits) != 1 or any(overlaps(other, edit) for other in staged):
        return None
    current = state.edits[hits[0]]
    if current.offset == edit.offset and edit.replacement in current.replacement:
        return hits[0], current  # already composed in (a second secret routed to this RUN)
    composed = compose(current, edit)
    if composed is None:
        return None
    rest = [e for i, e in enumerate(state.edits) if i != hits[0]] + staged
    return None if conflicts_with(composed, rest) else (hits[0], composed)


def _stage_new_file(path: str, text: str, states: dict[str, _FileState],
                    record: FixRecord) -> None:
    """A file the fix creates (or replaces whole, when it exists with other content)."""
    key = os.path.realpath(path)
    if key in states:
        return  # every finding of a job proposes the same file
    exists = os.path.exists(path)
    before = _read(path) if exists else ""
    state = _FileState(path, path, before, new_file=not exists)
    if before != text:
        state.add(Edit(0, len(before), text), record)
    states[key] = state


def _file_change(state: _FileState) -> FileChange:
    return FileChange(state.path, state.disk_path, state.before,
                      apply_edits(state.before, state.edits), state.new_file,
                      list(zip(state.edits, state.owners, strict=True)))


def _touches(a: Edit, b: Edit) -> bool:
    return a.offset <= b.end_offset and b.offset <= a.end_offset


@lru_cache(maxsize=4096)
def _real(path: str) -> str:
    return os.path.realpath(path)


def _state(path: str, job: Job, states: dict[str, _FileState]) -> _FileState:
    disk = job.disk_path(path)
    key = _real(disk)
    if key not in states:
        states[key] = _FileState(path, disk, job.source(path).text)
    return states[key]


def _read(path: str) -> str:
    from carpenter.model.source import read_source

    return read_source(path).text


def _override_notes(job: Job) -> list[str]:
    notes = []
    for override in job.snapshot.active_overrides(job.installed):
        verb = "pins " + ", ".join(f"{k}=={v}" for k, v in override.pins.items()) \
            if override.action == "pin" and override.pins else "warning"
        env = " ".join(f"{k}={v}" for k, v in override.env.items())
        notes.append(f"override {override.id} ({verb}{'; set ' + env if env else ''}): "
                     f"{override.reason} [{', '.join(override.refs)}]")
    return notes


def _resolve_missing(job: Job) -> dict[str, str]:
    """Resolve names the snapshot lacks, at the snapshot's date (network)."""
    from carpenter.snapshot.create import CreateRequest, resolve

    names = {f.payload.package for f in job.findings
             if f.category == "unpinned-pip" and isinstance(f.payload, PipPin)
             and f.payload.package}
    missing = sorted({canonicalize_name(n) for n in names
                      if job.snapshot.version(n)[0] is None})
    if not missing:
        return {}
    pins, _ = resolve(CreateRequest(as_of=job.snapshot.as_of, requirements=missing,
                                    python=job.snapshot.target.python,
                                    platform=job.snapshot.target.platform))
    return {name: pins[name] for name in missing if name in pins}


# The name before typed results (tests and callers may still use it).
FixReport = FixResult
