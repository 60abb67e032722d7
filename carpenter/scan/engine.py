"""Scan entry point: find Dockerfiles, run every selected rule, collect findings and errors."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Any

from carpenter.core.diagnostics import Diagnostic
from carpenter.core.errors import CarpenterError, InputError
from carpenter.core.lazyre import lazy_compile
from carpenter.core.records import record
from carpenter.core.redact import remember, remembered, safe_text
from carpenter.scan.config import ScanConfig, rule_matches
from carpenter.scan.finding import SEVERITY_RANK, Finding
from carpenter.scan.registry import Rule, all_rules

if TYPE_CHECKING:  # the parser (a Go library) and the pool load only when a file is scanned
    from carpenter.model.dockerfile import Dockerfile

# Dockerfile, dockerfile, Dockerfile1, Dockerfile_2, Dockerfile-base, Dockerfile.train,
# train.Dockerfile, Containerfile (real submissions use all of them).
DOCKERFILE_NAME = lazy_compile(
    r"(?i)^(?:dockerfile|containerfile)(?:\d+|[._\-][\w.\-]+)?$|.+\.(?:dockerfile|containerfile)$"
)
# Files named after a Dockerfile that are not one (notes, templates, backups, scripts).
NOT_DOCKERFILE_SUFFIXES = (".dockerignore", ".md", ".rst", ".txt", ".json", ".yaml", ".yml",
                           ".sh", ".py", ".toml", ".lock", ".bak", ".orig", ".swp", ".j2",
                           ".jinja", ".jinja2", ".tpl", ".tmpl", ".patch", ".diff", ".html")
SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "env", ".tox", ".nox",
     "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "site-packages"}
)


@record(eq=False)
class ScanOptions:
    """How to scan: the configuration, the build context and arguments, jobs, the cache."""

    config: ScanConfig = field(default_factory=ScanConfig)
    context: str | None = None  # build context; default: the Dockerfile's folder
    build_args: Mapping[str, str] = field(default_factory=dict)
    jobs: int = 1
    cache_dir: str | None = None  # persistent result cache (see carpenter.scan.cache); None: off


@record(eq=False)
class FileResult:
    """What the rules found in one Dockerfile, and what kept some of them from running."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    # A rule with reads_outside_context found something (before suppressions): the result
    # depends on folders outside the context, which the result cache does not stamp.
    looked_outside: bool = False
    # Secret values the rules identified (memory only, never cached or printed): a worker
    # process hands them to the parent's redaction registry.
    secrets: list[str] = field(default_factory=list)
    # Findings an inline suppression silenced: {rule, path, line}, reported as such.
    suppressed: list[dict[str, Any]] = field(default_factory=list)


@record(eq=False)
class ScanReport:
    """What a scan found in all its Dockerfiles (one report for every output format)."""

    files: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    config: ScanConfig = field(default_factory=ScanConfig)
    cached: int = 0  # files whose result came from the result cache
    suppressed: list[dict[str, Any]] = field(default_factory=list)  # honoured suppressions

    def failing(self) -> list[Finding]:
        if self.config.fail_on == "none":
            return []
        floor = SEVERITY_RANK[self.config.fail_on]
        return [f for f in self.findings if SEVERITY_RANK[f.severity] >= floor]

    def exit_code(self) -> int:
        if self.errors:
            return 2
        return 1 if self.failing() else 0


# ---------------------------------------------------------------------------------------------
# Discovery


def is_dockerfile_name(name: str) -> bool:
    return DOCKERFILE_NAME.match(name) is not None \
        and not name.lower().endswith(NOT_DOCKERFILE_SUFFIXES)


def discover(paths: Iterable[str]) -> tuple[list[str], list[Diagnostic]]:
    """Dockerfiles named by the user, folders searched recursively; unreadable paths as errors."""
    found: list[str] = []
    errors: list[Diagnostic] = []
    for path in paths:
        if os.path.isdir(path):
            # normpath: `scan .` reports bad/Dockerfile, like paths found in the context
            found.extend(os.path.normpath(p) for p in _walk(path, errors))
        elif os.path.lexists(path):
            found.append(path)
        else:
            errors.append(Diagnostic(path, None, "no such file or directory"))
    # `scan . sub/Dockerfile` names one file twice: scan it once.
    return list(dict.fromkeys(found)), errors


def _walk(root: str, errors: list[Diagnostic]) -> list[str]:
    found: list[str] = []
    seen: set[tuple[int, int]] = set()

    def onerror(exc: OSError) -> None:
        errors.append(Diagnostic(exc.filename or root, None, exc.strerror))

    for folder, dirs, files in os.walk(root, onerror=onerror, followlinks=True):
        try:
            stat = os.stat(folder)
        except OSError:
            continue
        if (stat.st_dev, stat.st_ino) in seen:  # symlink loop
            errors.append(Diagnostic(folder, None, "symbolic link loop"))
            dirs[:] = []
            continue
        seen.add((stat.st_dev, stat.st_ino))
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        found.extend(os.path.join(folder, f) for f in sorted(files) if is_dockerfile_name(f))
    return found


# ---------------------------------------------------------------------------------------------
# Scanning


_ACTIVE: dict[tuple, list[type[Rule]]] = {}


def active_rules(config: ScanConfig) -> list[type[Rule]]:
    """The selected rules; computed once per selection, not once per file."""
    key = (config.select, config.extend_select, config.ignore, config.profile_rules)
    if key not in _ACTIVE:
        _ACTIVE[key] = [rule for rule in all_rules().values() if config.selects(rule)]
    return _ACTIVE[key]


def scan_dockerfile(
    dockerfile: Dockerfile, options: ScanOptions, context_dir: str | None = None
) -> FileResult:
    """Run the selected rules over an already parsed Dockerfile (used by scan and fix)."""
    from carpenter.scan.context import ScanContext

    relative = not os.path.isabs(dockerfile.path)
    if context_dir is None:
        context_dir = options.context or os.path.dirname(dockerfile.path) or "."
    ctx = ScanContext(dockerfile, context_dir, options.config, relative_display=relative)
    findings: list[Finding] = []
    errors: list[Diagnostic] = []
    looked_outside = False
    known_before = remembered()
    deadline = time.monotonic() + file_budget_s()
    rules = active_rules(options.config)
    for done, rule_cls in enumerate(rules):
        if time.monotonic() > deadline:
            skipped = ", ".join(r.id for r in rules[done:])
            errors.append({"path": dockerfile.path, "line": None,
                           "message": f"not fully checked: the {file_budget_s():g} s budget per "
                                      f"file ran out; rules not run: {skipped}"})
            break
        try:
            found = list(rule_cls().check(ctx))
            findings.extend(found)
            looked_outside |= rule_cls.reads_outside_context and bool(found)
        except CarpenterError as exc:
            errors.append(Diagnostic(exc.path or dockerfile.path, exc.line,
                                     f"{rule_cls.id}: {exc.message}"))
        except Exception as exc:  # a rule bug must not hide the other rules' findings
            errors.append(Diagnostic(dockerfile.path, None,
                                     f"internal error in rule {rule_cls.id}: "
                                     f"{type(exc).__name__}: {exc}"))
    findings = _apply_overrides(findings, options.config)
    findings, suppressed = _suppress_inline(findings, dockerfile, options.config)
    found_secrets = sorted(remembered() - known_before)
    findings = _masked_messages(findings)  # after every rule ran: all the secrets are known
    return FileResult(dockerfile.path, _dedupe(findings), errors + ctx.errors, looked_outside,
                      found_secrets, suppressed)


def file_budget_s() -> float:
    """Seconds of rule time per Dockerfile before the rest is reported as not checked: one
    hostile file must not stall a batch ($CARPENTER_FILE_BUDGET_S, default 30)."""
    try:
        return max(0.0, float(os.environ.get("CARPENTER_FILE_BUDGET_S", "30")))
    except ValueError:
        return 30.0


def _masked_messages(findings: list[Finding]) -> list[Finding]:
    """Mask, in every message and hint, the secrets any rule identified: a rule that quotes
    text (an apt package list that swallowed `wandb login <key>`) may run before the secret
    rule that recognises part of it."""
    for finding in findings:
        finding.message = safe_text(finding.message)
        finding.fix_hint = safe_text(finding.fix_hint)
    return findings


def scan_file(path: str, options: ScanOptions) -> FileResult:
    from carpenter.model.dockerfile import load_dockerfile

    _collect_now_and_then()
    try:
        dockerfile = load_dockerfile(path, path, options.build_args)
    except InputError as exc:
        return FileResult(path, [], [Diagnostic(exc.path or path, exc.line, exc.message)])
    return scan_dockerfile(dockerfile, options)


def scan_paths(paths: Iterable[str], options: ScanOptions) -> ScanReport:
    files, errors = discover(paths)
    report = ScanReport(files=list(files), errors=errors, config=options.config)
    cache = _open_cache(options)
    results: dict[int, FileResult] = {}
    todo: list[tuple[int, str, Any]] = []  # (index, path, stamp or None)
    for index, path in enumerate(files):
        stamp = cache.stamp(path, _context_of(path, options)) if cache else None
        hit = cache.get(path, stamp) if cache and stamp else None
        if hit is not None:
            results[index] = FileResult(path, hit)
            report.cached += 1
        else:
            todo.append((index, path, stamp))
    scanned = _scan_many([path for _, path, _ in todo], options)
    for (index, path, stamp), result in zip(todo, scanned, strict=True):
        remember(result.secrets)  # found in a worker process: this one must mask them too
        results[index] = result
        if cache and stamp:
            cache.put(path, stamp, result)
    if cache:
        cache.flush()
    for index in range(len(files)):
        report.findings.extend(results[index].findings)
        report.errors.extend(results[index].errors)
        report.suppressed.extend(results[index].suppressed)
    report.findings.sort(key=Finding.sort_key)
    return report


def _scan_many(files: list[str], options: ScanOptions) -> list[FileResult]:
    if not files:
        return []  # all from the cache: load neither the parser nor the rules
    # Starting workers costs ~0.4 s (a forkserver, then each worker imports the parser and
    # the rules): below ~30 files per worker one process finishes first.
    if options.jobs > 1 and len(files) > POOL_FILES_PER_JOB * options.jobs:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # Not fork: the `dockerfile` parser is a Go library whose runtime threads do not
        # survive fork() (workers deadlocked on a futex). forkserver children start clean.
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        context = mp.get_context(method)
        with ProcessPoolExecutor(max_workers=options.jobs, mp_context=context,
                                 initializer=_tune_gc, initargs=(options,)) as pool:
            return list(pool.map(scan_file, files, [options] * len(files), chunksize=16))
    if len(files) < GC_TUNE_FILES:
        return [scan_file(path, options) for path in files]
    with _gc_tuned(options):
        return [scan_file(path, options) for path in files]


# The collector is a fifth of a cold scan's CPU: every model, finding and cached parse is
# long-lived, so automatic young collections find next to nothing while re-walking them. In a
# batch, what the imports built is frozen (never scanned again), automatic collection is off,
# and the young generations are collected every GC_EVERY_FILES files instead, which bounds
# the garbage (cycles are rare in the model) at a fraction of the cost.
POOL_FILES_PER_JOB = 30
GC_TUNE_FILES = 64  # below this the one full collection before freezing costs more
GC_EVERY_FILES = 200
_batch = {"on": False, "scanned": 0}  # per process: a tuned batch runs here


def _tune_gc(options: ScanOptions) -> bool:
    """Import what a scan needs, freeze it, switch automatic collection off; True if this
    call froze (a library caller's own freeze is left as it is)."""
    import gc

    from carpenter.model.dockerfile import load_dockerfile  # noqa: F401 (import only)
    from carpenter.scan.context import ScanContext  # noqa: F401

    active_rules(options.config)
    froze = gc.get_freeze_count() == 0
    if froze:
        gc.collect()
        gc.freeze()
    gc.disable()
    _batch.update(on=True, scanned=0)
    return froze


def _collect_now_and_then() -> None:
    if _batch["on"]:
        _batch["scanned"] += 1
        if _batch["scanned"] % GC_EVERY_FILES == 0:
            import gc

            gc.collect(1)  # the young generations only: survivors move to the oldest


@contextlib.contextmanager
def _gc_tuned(options: ScanOptions) -> Iterator[None]:
    import gc

    enabled = gc.isenabled()
    froze = _tune_gc(options)
    try:
        yield
    finally:
        if froze:
            gc.unfreeze()
        _batch["on"] = False
        if enabled:
            gc.enable()


def _context_of(path: str, options: ScanOptions) -> str:
    return options.context or os.path.dirname(path) or "."


def _open_cache(options: ScanOptions):
    if options.cache_dir is None:
        return None
    from carpenter.scan.cache import ResultCache

    settings = (options.config, sorted(options.build_args.items()), options.context)
    return ResultCache(options.cache_dir, settings)


def _apply_overrides(findings: list[Finding], config: ScanConfig) -> list[Finding]:
    if config.severity:
        for f in findings:
            f.severity = config.severity_of(f.rule, f.name, f.category, f.severity)
    return findings


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple] = set()
    out = []
    for f in sorted(findings, key=Finding.sort_key):
        key = (f.rule, f.path, f.line, f.column, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


# ---------------------------------------------------------------------------------------------
# Inline suppressions: `# carpenter: ignore[RULE,...] reason` (and hadolint's spelling) on the
# comment lines directly above an instruction silence those rules within that instruction.

_PRAGMA = lazy_compile(r"#\s*carpenter:\s*ignore\[([^\]]*)\]", re.IGNORECASE)
_HADOLINT = lazy_compile(r"#\s*hadolint\s+ignore=([A-Za-z0-9_,\s]+)", re.IGNORECASE)
# ruff/flake8 spelling, a comment `noqa: PIP001,SEC001` (a bare noqa silences nothing: rules
# must be named, as for the carpenter pragma).
_NOQA = lazy_compile(r"#\s*noqa:\s*([A-Za-z0-9_\-]+(?:\s*,\s*[A-Za-z0-9_\-]+)*)", re.IGNORECASE)


def _suppress_inline(findings: list[Finding], dockerfile: Dockerfile, config: ScanConfig,
                     ) -> tuple[list[Finding], list[dict[str, Any]]]:
    """(kept findings, honoured suppressions). A rule matched by config.ignore_pragmas keeps
    its findings whatever the comments say."""
    ranges = _suppression_ranges(dockerfile)
    if not ranges:
        return findings, []
    rules = all_rules()
    kept = []
    suppressed: list[dict[str, Any]] = []
    for f in findings:
        rule = rules.get(f.rule)
        silenced = rule is not None and not any(
            rule_matches(rule, key) for key in config.ignore_pragmas) and any(
            f.path == dockerfile.path and first <= f.line <= last and _silences(rule, keys)
            for first, last, keys in ranges)
        if silenced:
            suppressed.append({"rule": f.rule, "path": f.path, "line": f.line})
        else:
            kept.append(f)
    return kept, suppressed


def _silences(rule: type[Rule], keys: list[str]) -> bool:
    return any(rule_matches(rule, k) or k.upper() in rule.hadolint for k in keys)


def _suppression_ranges(dockerfile: Dockerfile) -> list[tuple[int, int, list[str]]]:
    source = dockerfile.source
    ranges = []
    for inst in dockerfile.instructions:
        keys: list[str] = []
        line = inst.start_line - 1
        while line >= 1:
            text = source.line_text(line).strip()
            if not text.startswith("#"):
                break
            for match in _PRAGMA.finditer(text):
                keys.extend(k.strip() for k in match.group(1).split(",") if k.strip())
            for match in _HADOLINT.finditer(text):
                keys.extend(k.strip() for k in match.group(1).split(",") if k.strip())
            for match in _NOQA.finditer(text):
                keys.extend(k.strip() for k in match.group(1).split(",") if k.strip())
            line -= 1
        if keys:
            ranges.append((inst.start_line, inst.end_line, keys))
    return ranges
