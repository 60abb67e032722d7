"""The four stages as functions over plain data, for `carpenter check` and `carpenter batch`.

Each stage function takes a `Submission`, the `CheckOptions` and the earlier stages' results
(dicts, as stored in the batch database) and returns its own result as a JSON-ready dict. That
makes a stage runnable in a worker process or a Ray task, and its result storable and
resumable, without the pipeline knowing where it runs. Every text a stage returns has been
through `safe_text`: the dicts go to disk (SQLite, HTML, CSV) as they are.
"""

from __future__ import annotations

import difflib
import os
import shutil
import time
import traceback
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from carpenter.core.errors import CarpenterError
from carpenter.core.redact import safe_text, stream_text

STAGES = ("scan", "fix", "rebuild", "smoke")
# Findings whose packages float: the image built today may differ from the one the author had.
DRIFT_CATEGORIES = frozenset({"unpinned-pip", "unpinned-apt", "unpinned-conda",
                              "floating-base-image", "unpinned-git"})
FRAME_LINES = 2  # lines of context either side of a finding in its code frame


@dataclass
class CheckOptions:
    """Everything the stages take; plain values only, so it pickles to workers and Ray."""

    stages: tuple[str, ...] = STAGES
    snapshot: str | None = None  # name or path; None = the default snapshot
    profile: str | None = None
    config_file: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    secrets: list[dict[str, str | None]] = field(default_factory=list)  # SecretSpec fields
    ca_bundle: str | None = None
    base_map: dict[str, str] = field(default_factory=dict)
    timeout: float = 3600.0  # build wall clock
    memory: int | None = None
    network: str = "default"
    backend: str = "auto"
    smoke_timeout: float = 600.0
    gpu: str = "auto"
    server: bool | None = None  # None: on under the neurips-2023 profile
    env: dict[str, str] = field(default_factory=dict)  # smoke container environment
    tag_prefix: str = "carpenter-check"


@dataclass
class Submission:
    """One submission: its folder, its Dockerfile, and a private folder for what we write."""

    id: str
    path: str  # submission folder (the build context)
    dockerfile: str = "Dockerfile"  # relative to path
    work: str = ""  # our folder: repaired copy, patch, logs

    @property
    def dockerfile_path(self) -> Path:
        return Path(self.path) / self.dockerfile

    @property
    def work_dir(self) -> Path:
        return Path(self.work)


def run_stages(names: list[str], sub: Submission, options: CheckOptions,
               prior: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Run stages in order, each seeing the ones before; the JSON-ready results by name."""
    done = dict(prior)
    results = {}
    for name in names:
        done[name] = run_stage(name, sub, options, done)
        results[name] = public(done[name])
    return results


def public(result: dict[str, Any]) -> dict[str, Any]:
    """A stage result without its in-process extras (keys starting with `_`)."""
    return {k: v for k, v in result.items() if not k.startswith("_")}


def run_stage(name: str, sub: Submission, options: CheckOptions,
              prior: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Run one stage; never raises: a failure becomes a result with status `error`.

    A worker that raised would lose the submission's other stages and, in a pool, could take
    the batch down with it; an error result is stored, shown and counted like any other.
    """
    started = time.monotonic()
    try:
        result = STAGE_FUNCTIONS[name](sub, options, prior)
    except CarpenterError as exc:
        result = {"status": "error", "error": safe_text(exc.located())}
    except Exception as exc:  # a bug or an engine hiccup must not stop the other submissions
        last = traceback.extract_tb(exc.__traceback__)[-1:] or [None]
        where = f" ({Path(last[0].filename).name}:{last[0].lineno})" if last[0] else ""
        result = {"status": "error",
                  "error": safe_text(f"internal error: {type(exc).__name__}: {exc}{where}")}
    result["duration_s"] = round(time.monotonic() - started, 3)
    return result


# ---------------------------------------------------------------------------------------------
# scan


def scan_stage(sub: Submission, options: CheckOptions, prior: dict) -> dict[str, Any]:
    from carpenter.scan.engine import ScanOptions, scan_paths

    dockerfile = sub.dockerfile_path
    if not dockerfile.is_file():
        return {"status": "error", "error": safe_text(f"{dockerfile}: Dockerfile not found")}
    report = scan_paths([str(dockerfile)], _scan_options(sub, options, ScanOptions))
    failing = {id(f) for f in report.failing()}
    sources: dict[str, list[str]] = {}  # one read per file, however many findings it has
    findings = [_finding_dict(f, sub, id(f) in failing, sources) for f in report.findings]
    categories: dict[str, int] = {}
    for item in findings:
        categories[item["category"]] = categories.get(item["category"], 0) + 1
    return {"status": "failing" if failing else "clean", "findings": findings,
            "categories": categories, "failing": len(failing),
            "errors": [safe_text(e.message) for e in report.errors],
            # In-process only (dropped before a result is stored): fix acts on these findings
            # instead of scanning the same Dockerfile again.
            "_findings": report.findings}


def _scan_options(sub: Submission, options: CheckOptions, cls: type) -> Any:
    from carpenter.scan.config import resolve_config

    cli = {"profile": options.profile} if options.profile else {}
    config_file = Path(options.config_file) if options.config_file else None
    config = resolve_config(cli, start=Path(sub.path), config_file=config_file)
    return cls(config=config, context=sub.path, build_args=options.build_args)


def _finding_dict(finding: Any, sub: Submission, failing: bool,
                  sources: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"rule": finding.rule, "category": finding.category, "severity": finding.severity,
            "path": _relative(finding.path, sub.path), "line": finding.line,
            "column": finding.column, "message": safe_text(finding.message),
            "fix_hint": safe_text(finding.fix_hint or ""), "fixable": bool(finding.fixable),
            "failing": failing, "frame": _frame(finding.path, finding.line, sources)}


def _frame(path: str, line: int | None,
           sources: dict[str, list[str]] | None = None) -> list[list[Any]]:
    """[[line number, text], ...] around `line`, redacted: the report shows it as it is."""
    if not line:
        return []
    sources = {} if sources is None else sources
    if path not in sources:
        try:
            sources[path] = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            sources[path] = []
    lines = sources[path]
    if not lines:
        return []
    low, high = max(1, line - FRAME_LINES), min(len(lines), line + FRAME_LINES)
    return [[n, safe_text(lines[n - 1][:200])] for n in range(low, high + 1)]


def _relative(path: str, root: str) -> str:
    try:
        return str(Path(_real(path)).relative_to(_real(root)))
    except ValueError:
        return path


@lru_cache(maxsize=1024)
def _real(path: str) -> str:
    # realpath walks every component; a submission's findings repeat the same few paths.
    return os.path.realpath(path)


# ---------------------------------------------------------------------------------------------
# fix


def fix_stage(sub: Submission, options: CheckOptions, prior: dict) -> dict[str, Any]:
    """Fix into `<work>/repaired` (never in place) and write `<work>/fix.patch`."""
    from carpenter.fix.engine import FixOptions, fix_findings, fix_paths
    from carpenter.fix.output import write_copy
    from carpenter.scan.engine import ScanOptions
    from carpenter.snapshot.model import DEFAULT_SNAPSHOT, load_snapshot

    fix_options = FixOptions(load_snapshot(options.snapshot or DEFAULT_SNAPSHOT),
                             scan=_scan_options(sub, options, ScanOptions))
    dockerfile = str(sub.dockerfile_path)
    scan = prior.get("scan")
    if scan and scan.get("status") != "error" and "_findings" in scan:
        result = fix_findings(dockerfile, scan["_findings"], fix_options)
    else:
        result = fix_paths([dockerfile], fix_options)
    repaired = sub.work_dir / "repaired"
    patch = sub.work_dir / "fix.patch"
    # A stage killed half-way is run again: start from nothing, as the first attempt did.
    shutil.rmtree(repaired, ignore_errors=True)
    patch.unlink(missing_ok=True)
    changed = [f for f in result.files if f.changed]
    # Computed once: the patch file, the stored diff and the masking check all need it.
    diff = _git_diff(changed, Path(sub.path)) if changed else ""
    if changed and not result.errors:
        write_copy(result.files, Path(sub.path), repaired)
        _write_patch(patch, diff)
    data = result.to_dict()
    return {"status": _fix_status(result, changed),
            "applied": len(data["applied"]), "skipped": len(data["skipped"]),
            "skipped_reasons": [safe_text(f"{r.get('rule')}: {r.get('reason')}")
                                for r in data["skipped"]],
            "changed_files": [_relative(p, sub.path) for p in data["changed_files"]],
            "diff": safe_text(diff) if changed else "",
            "notes": [safe_text(n) for n in data["notes"]],
            "build_flags": data["build_flags"],
            "errors": [safe_text(str(e.get("message"))) for e in data["errors"]],
            "repaired": str(repaired) if repaired.is_dir() else None,
            "patch": str(patch) if patch.is_file() else None,
            "patch_masked": patch.is_file() and patch.read_text(encoding="utf-8") != diff}


def _fix_status(result: Any, changed: list) -> str:
    if result.errors:
        return "error"
    if result.skipped:
        return "partial" if changed else "unfixed"
    return "fixed" if changed else "nothing-to-fix"


def _git_diff(changes: list, root: Path) -> str:
    """A diff `git apply` takes from the submission's root: a/ and b/ prefixes, /dev/null for
    new files, and the "No newline" marker so the last line round-trips."""
    parts = []
    for change in changes:
        rel = _relative(change.disk_path, str(root))
        before = "" if change.new_file else change.before
        old = "/dev/null" if change.new_file else f"a/{rel}"
        lines = difflib.unified_diff(_diff_lines(before), _diff_lines(change.after),
                                     old, f"b/{rel}", n=3)
        body = "".join(lines)
        if body:
            header = f"diff --git a/{rel} b/{rel}\n"
            if change.new_file:
                header += "new file mode 100644\n"
            parts.append(header + body)
    return "".join(parts)


def _diff_lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def _write_patch(path: Path, diff: str) -> None:
    from carpenter.core.files import write_atomic

    # Masked: a patch that removes a leaked token would otherwise print it in full. A masked
    # patch no longer applies; `patch_masked` says so and the repaired copy is the fallback.
    write_atomic(path, stream_text(diff))


# ---------------------------------------------------------------------------------------------
# rebuild


def rebuild_stage(sub: Submission, options: CheckOptions, prior: dict) -> dict[str, Any]:
    """Build the original; build the repaired copy when the original fails or may drift."""
    from carpenter.pipeline.bases import base_notes

    original = _build(sub, options, Path(sub.path), "original")
    fix = prior.get("fix") or {}
    scan = prior.get("scan") or {}
    floating = sorted(set(scan.get("categories") or {}) & DRIFT_CATEGORIES)
    repaired = None
    if fix.get("repaired") and (original["status"] != "built" or floating):
        repaired = _build(sub, options, Path(fix["repaired"]), "repaired")
    drift = _drift(original, repaired)
    notes = base_notes(original, options) if original.get("base_substitutions") else []
    status = "built" if original["status"] == "built" else (
        "repaired-built" if repaired and repaired["status"] == "built" else "failed")
    return {"status": status, "original": original, "repaired": repaired,
            "floating": floating, "drift": drift, "base_notes": notes}


def _build(sub: Submission, options: CheckOptions, folder: Path, which: str) -> dict[str, Any]:
    from carpenter.core.options import SecretSpec
    from carpenter.rebuild.interface import BuildRequest
    from carpenter.rebuild.rebuild import rebuild

    request = BuildRequest(
        context=folder.resolve(), dockerfile=(folder / sub.dockerfile).resolve(),
        tag=image_tag(options.tag_prefix, sub.id, which), timeout=options.timeout,
        memory=options.memory, network=options.network, build_args=dict(options.build_args),
        secrets=[SecretSpec(**s) for s in options.secrets],
        ca_bundle=Path(options.ca_bundle) if options.ca_bundle else None,
        base_map=dict(options.base_map), backend=options.backend)
    log = sub.work_dir / "logs" / f"rebuild.{which}.log"
    result = rebuild(request, log).to_dict()
    for key in ("message", "evidence"):
        result[key] = safe_text(result.get(key) or "")
    result["notes"] = [safe_text(n) for n in result.get("notes") or []]
    return result


def image_tag(prefix: str, sub_id: str, which: str) -> str:
    """A valid, stable image reference per submission: a rerun reuses the build cache."""
    slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in sub_id.lower()).strip("-._")
    return f"{prefix}/{slug or 'submission'}:{which}"


def _drift(original: dict, repaired: dict | None) -> dict[str, list[str]] | None:
    """Distributions that differ between today's build of the original and the pinned copy."""
    if not repaired or original.get("pip_freeze") is None or repaired.get("pip_freeze") is None:
        return None
    before, after = set(original["pip_freeze"]), set(repaired["pip_freeze"])
    if before == after:
        return None
    return {"only_original": sorted(before - after), "only_repaired": sorted(after - before)}


# ---------------------------------------------------------------------------------------------
# smoke


def smoke_stage(sub: Submission, options: CheckOptions, prior: dict) -> dict[str, Any]:
    """Smoke the image that counts: the original when it built, the repaired copy when the
    original failed, drifted or failed its own smoke."""
    build = prior.get("rebuild")
    if not build or build.get("status") == "error":
        return {"status": "skipped", "reason": "no build result to smoke"}
    results: dict[str, Any] = {"status": "failed", "original": None, "repaired": None}
    original, repaired = build.get("original") or {}, build.get("repaired") or {}
    if original.get("status") == "built":
        results["original"] = _smoke(original["tag"], options, sub.path)
    original_ok = bool(results["original"] and results["original"]["passed"])
    if repaired.get("status") == "built" and (not original_ok or build.get("drift")):
        results["repaired"] = _smoke(repaired["tag"], options, sub.path)
    if results["original"] is None and results["repaired"] is None:
        return {"status": "skipped", "reason": "no image was built"}
    passed = [k for k in ("original", "repaired") if results[k] and results[k]["passed"]]
    results["status"] = "passed" if passed else "failed"
    return results


def _smoke(image: str, options: CheckOptions, context: str | None = None) -> dict[str, Any]:
    from carpenter.core.options import SecretSpec
    from carpenter.smoke.runner import SmokeOptions, smoke

    server = options.server if options.server is not None else options.profile == "neurips-2023"
    # What fix moved out of the image (a token) reaches the server at run time: the same
    # `--env` and `--secret` values the build got.
    secrets = tuple(SecretSpec(**s) for s in options.secrets)
    values: dict[str, Any] = {"gpu": options.gpu, "timeout": options.smoke_timeout,
                              "server": server, "contract": options.profile or "neurips-2023",
                              "env": dict(options.env), "secrets": secrets,
                              # hub ids the submission's own files load get stand-ins up front
                              "context": context}
    try:
        result = smoke(image, SmokeOptions(**values))
    except CarpenterError as exc:
        return {"passed": False, "status": "error", "error": safe_text(exc.located()),
                "checks": []}
    data = result.to_dict()
    checks = [{"name": safe_text(c.name), "status": c.status, "detail": safe_text(c.detail)}
              for c in result.all_checks()]
    return {"passed": result.passed, "status": result.status, "device": result.device,
            "versions": {k: safe_text(str(v)) for k, v in (result.versions or {}).items()},
            "missing": list(result.missing), "checks": checks,
            "timings": data.get("timings", {}), "log_tail": safe_text(result.log_tail[-2000:])}


STAGE_FUNCTIONS = {"scan": scan_stage, "fix": fix_stage, "rebuild": rebuild_stage,
                   "smoke": smoke_stage}
