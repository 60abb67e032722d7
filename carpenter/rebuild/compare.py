"""`rebuild --compare`: build the submission as given and as `fix --out` repairs it.

The fix stage runs in-process (fix_paths + write_copy into a temporary folder), not as a
`carpenter fix` subprocess: one interpreter, the fix's own error types, no PATH lookup.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from carpenter.core.errors import CarpenterError
from carpenter.rebuild.interface import BuildRequest, BuildResult


@dataclass
class CompareResult:
    original: BuildResult
    fixed: BuildResult | None  # None when the fix could not produce a repaired copy
    fix_message: str = ""  # why not, when fixed is None
    pip_freeze_diff: dict[str, list[str]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"original": self.original.to_dict(),
                "fixed": self.fixed.to_dict() if self.fixed else None,
                "fix": {"status": "unavailable" if self.fix_message else "ok",
                        "message": self.fix_message},
                "pip_freeze_diff": self.pip_freeze_diff}


def compare(request: BuildRequest, path: Path, log_path: Path | None) -> CompareResult:
    from carpenter.rebuild.rebuild import rebuild

    original = rebuild(request, suffixed(log_path, "original"))
    fixed = None
    with tempfile.TemporaryDirectory(prefix="carpenter-fixed-") as tmp:
        fixed_dir = Path(tmp) / "fixed"
        problem = fix_copy(path, fixed_dir)
        if problem is None:
            fixed = rebuild(fixed_request(request, path, fixed_dir), suffixed(log_path, "fixed"))
    diff = freeze_diff(original.pip_freeze, fixed.pip_freeze if fixed else None)
    return CompareResult(original, fixed, problem or "", diff)


def fix_copy(path: Path, out: Path) -> str | None:
    """What `carpenter fix PATH --out OUT` does, in-process; None on success, else why not."""
    from carpenter.fix.engine import FixOptions, fix_paths
    from carpenter.fix.output import submission_root, write_copy
    from carpenter.scan.config import resolve_config
    from carpenter.scan.engine import ScanOptions
    from carpenter.snapshot.model import DEFAULT_SNAPSHOT, load_snapshot

    try:
        scan = ScanOptions(config=resolve_config({}))
        result = fix_paths([str(path)], FixOptions(load_snapshot(DEFAULT_SNAPSHOT), scan=scan))
        if result.errors:
            first = result.errors[0]
            return f"carpenter fix failed: {first.path}: {result.redact(first.message)}"
        write_copy(result.files, submission_root([str(path)], None), out)
    except CarpenterError as exc:
        return f"carpenter fix failed: {exc.located()}"
    if not out.is_dir():  # nothing to change: the copy is the submission as it is
        return "carpenter fix wrote no copy"
    return None


def fixed_request(request: BuildRequest, path: Path, fixed_dir: Path) -> BuildRequest:
    root = path.resolve() if path.is_dir() else path.resolve().parent

    def moved(p: Path) -> Path:
        try:
            return fixed_dir / p.relative_to(root)
        except ValueError:
            return p  # outside the submission folder: fix did not copy it
    name, _, version = request.tag.rpartition(":")
    tag = f"{name}:{version}-fixed" if name and "/" not in version else f"{request.tag}-fixed"
    return replace(request, context=moved(request.context), dockerfile=moved(request.dockerfile),
                   tag=tag)


def freeze_diff(original: list[str] | None, fixed: list[str] | None) -> dict | None:
    """What differs between two images' installed distributions (None unless both known)."""
    if original is None or fixed is None:
        return None
    return {"only_original": sorted(set(original) - set(fixed)),
            "only_fixed": sorted(set(fixed) - set(original))}


def suffixed(log_path: Path | None, suffix: str) -> Path | None:
    if log_path is None:
        return None
    return log_path.with_name(f"{log_path.stem}.{suffix}{log_path.suffix or '.log'}")
