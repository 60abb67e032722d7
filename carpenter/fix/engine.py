"""`fix` entry point: scan, turn each fixable finding into edits, merge them per file.

fix_paths() computes everything in memory; writing (in place or into a copy) is a separate
step (carpenter.fix.output), so a failure never leaves a half-fixed submission.
"""

from __future__ import annotations

import bisect
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from itertools import repeat
from typing import Any

from packaging.utils import canonicalize_name

from carpenter.core.errors import CarpenterError, InputError
from carpenter.core.redact import redact, remember, remembered
from carpenter.fix.apt import fix_apt
from carpenter.fix.constraints import fix_pip_constraints
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
from carpenter.scan.registry import all_rules
from carpenter.snapshot.model import Snapshot

STRATEGIES = ("rewrite", "constraints")
Fixer = Callable[[Finding, Job], Outcome]

FIXERS: dict[str, Fixer] = {
    "unpinned-pip": fix_pip,
    "unpinned-conda": fix_conda,
    "floating-base-image": fix_base_image,
    "unpinned-git": fix_git,
    "unpinned-apt": fix_apt,
    "secret": fix_secret,
    "cuda-source-build": fix_cuda_build,
    "build-time-download": fix_download,
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

    @cached_property
    def fix_scan(self) -> ScanOptions:
        return fix_scan_options(self.scan)


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

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FileChange:
    path: str  # as shown (relative to the working directory when the input was relative)
    disk_path: str
    before: str
    after: str
    new_file: bool = False

    @property
    def changed(self) -> bool:
        return self.before != self.after or self.new_file


@dataclass
class FixReport:
    snapshot: str
    strategy: str
    files_scanned: list[str] = field(default_factory=list)
    records: list[FixRecord] = field(default_factory=list)
    files: list[FileChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    build_flags: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)

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


def fix_paths(paths: Iterable[str], options: FixOptions) -> FixReport:
    files, errors = discover(paths)
    report = FixReport(options.snapshot.name, options.strategy, files_scanned=files,
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
    report.files = [FileChange(s.path, s.disk_path, s.before, apply_edits(s.before, s.edits),
                               s.new_file) for s in states.values()]
    report.files = [change for change in report.files if _parses_as_well(change, report)]
    report.notes = list(dict.fromkeys(report.notes))
    report.build_flags = list(dict.fromkeys(report.build_flags))
    return report


def _parses_as_well(change: FileChange, report: FixReport) -> bool:
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
    report.errors.append({"path": change.path, "line": new.line if new else None,
                          "message": f"fix refused: the fixed file would parse worse than the "
                                     f"original ({why}); nothing was changed"})
    for record in report.records:
        if record.path == change.path and record.status == "applied":
            record.status = "skipped"
            record.reason = "the fixed file would not parse as well as the original"
    return False


def _fix_one(path: str, options: FixOptions) -> tuple[FixReport, dict[str, _FileState]]:
    partial = FixReport(options.snapshot.name, options.strategy)
    states: dict[str, _FileState] = {}
    known_before = remembered()
    try:
        job = _job(path, options, partial)
    except InputError as exc:
        partial.errors.append({"path": exc.path or path, "line": exc.line,
                               "message": exc.message})
        return partial, states
    if job is not None:
        _fix_job(job, options, partial, states)
    # Secrets the scan identified in a worker: the parent prints the reasons and the diff.
    partial.secrets.extend(sorted(remembered() - known_before))
    return partial, states


def _merge(partial: tuple[FixReport, dict[str, _FileState]], report: FixReport,
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


def fix_findings(path: str, findings: list[Finding], options: FixOptions) -> FixReport:
    """Fix given findings of one Dockerfile (no scan): for callers that already scanned."""
    report = FixReport(options.snapshot.name, options.strategy, files_scanned=[path])
    dockerfile = load_dockerfile(path, path, options.scan.build_args)
    job = _new_job(dockerfile, path, options, findings)
    states: dict[str, _FileState] = {}
    _fix_job(job, options, report, states)
    report.files = [FileChange(s.path, s.disk_path, s.before, apply_edits(s.before, s.edits),
                               s.new_file) for s in states.values()]
    report.files = [change for change in report.files if _parses_as_well(change, report)]
    return report


def fix_scan_options(scan: ScanOptions) -> ScanOptions:
    """The user's scan settings minus rules whose findings fix neither fixes nor reports:
    fix stays as fast as the rules it acts on (context-file secret scans are skipped)."""
    idle = tuple(rule_id for rule_id, rule in all_rules().items()
                 if not (rule.fixable or rule.category == "host-local-artifact"))
    return replace(scan, config=replace(scan.config, ignore=scan.config.ignore + idle))


def _job(path: str, options: FixOptions, report: FixReport) -> Job | None:
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
               max_jobs=options.max_jobs)


def _fix_job(job: Job, options: FixOptions, report: FixReport,
             states: dict[str, _FileState]) -> None:
    if options.resolve:
        job.resolved = _resolve_missing(job)
    for note in _override_notes(job):
        report.notes.append(note)
    ordered = sorted(job.findings, key=lambda f: (PRIORITY.get(f.category, 9), f.path,
                                                  f.offset))
    for finding in ordered:
        # Rules mask secrets in their messages themselves (team contract).
        record = FixRecord(finding.rule, finding.category, finding.path, finding.line,
                           finding.column, finding.message, "skipped")
        report.records.append(record)
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


def _covering(finding: Finding, job: Job, states: dict[str, _FileState]) -> FixRecord | None:
    """The applied fix whose replaced text contains this finding's whole span, if any."""
    state = states.get(_real(job.disk_path(finding.path)))
    if state is None or finding.end_offset <= finding.offset:
        return None
    return state.containing(finding.offset, finding.end_offset)


def _run_fixer(finding: Finding, job: Job) -> Outcome:
    if finding.category == "host-local-artifact":
        return Outcome.skip("cannot be fixed automatically: " + finding.message)
    if finding.category == "unpinned-pip" and job.strategy == "constraints":
        return fix_pip_constraints(finding, job)
    if finding.category == "shell-bug":
        if _looks_like_requirement(finding) and _in_pip_install(finding, job):
            return fix_pip(finding, job)
        return Outcome.skip("shell bug outside a pip install: fix it by hand")
    if finding.category == "unpinned-conda" and finding.data.get("manager") == "pip":
        return fix_pip(finding, job)  # the pip: section of an environment.yml
    fixer = FIXERS.get(finding.category)
    if fixer is None:
        return Outcome.skip(f"no automatic fix for {finding.category} findings")
    return fixer(finding, job)


def _mask_known(text: str, secrets: list[str]) -> str:
    return redact(text, secrets) if secrets else text


def _in_pip_install(finding: Finding, job: Job) -> bool:
    located = job.command_at(finding.offset) if job.is_dockerfile(finding) else None
    return located is not None and pip_install_args(located[1]) is not None


def _looks_like_requirement(finding: Finding) -> bool:
    return bool(finding.data.get("name") or finding.data.get("requirement"))


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

    names = {str(f.data.get("package") or f.data.get("name")) for f in job.findings
             if f.category == "unpinned-pip" and (f.data.get("package") or f.data.get("name"))}
    missing = sorted({canonicalize_name(n) for n in names
                      if job.snapshot.version(n)[0] is None})
    if not missing:
        return {}
    pins, _ = resolve(CreateRequest(as_of=job.snapshot.as_of, requirements=missing,
                                    python=job.snapshot.target.python,
                                    platform=job.snapshot.target.platform))
    return {name: pins[name] for name in missing if name in pins}
