"""Writing fixes: in place (`--write`) or into a repaired copy of the submission (`--out`).

Both are all-or-nothing, `kill -9` included: carpenter.core.files writes every new file next to
its target, journals the set, then renames; the next run completes or cleans up what an
interrupted one left.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from carpenter.core.errors import InputError
from carpenter.core.files import Planned, recover, write_all
from carpenter.fix.engine import FileChange

_BOM = b"\xef\xbb\xbf"


def encode_like(original: bytes | None, text: str, path: str) -> bytes:
    """The new text in the original's encoding details: BOM and CRLF line ends survive."""
    if original is None:
        return text.encode("utf-8")
    try:
        original.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("not valid UTF-8: refusing to rewrite it (bytes would be lost)",
                         path=path) from None
    if original.count(b"\r\n") * 2 > original.count(b"\n"):
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8")
    return _BOM + data if original.startswith(_BOM) else data


def write_in_place(changes: list[FileChange], root: Path | None = None) -> list[str]:
    """Rewrite the changed files in place, all or nothing (see carpenter.core.files)."""
    plan = [(Path(c.disk_path), c) for c in changes if c.changed]
    if not plan:
        return []
    journal_dir = root if root is not None else plan[0][0].parent
    folders = tuple(sorted({target.parent for target, _ in plan}))
    recover(journal_dir, folders)
    return _commit(plan, journal_dir)


def _commit(plan: list[tuple[Path, FileChange]], journal_dir: Path) -> list[str]:
    items = []
    for target, change in plan:
        try:
            original = target.read_bytes() if target.exists() else None
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", path=change.path) from None
        items.append(Planned(target, encode_like(original, change.after, change.path),
                             None if target.exists() else 0o644))
    return write_all(items, journal_dir)


def _write_plain(plan: list[tuple[Path, FileChange]]) -> list[str]:
    for target, change in plan:
        original = target.read_bytes() if target.exists() else None
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            # The copy keeps links; writing through one would change the file it points at
            # (possibly the submission itself): the copy gets a file of its own instead.
            target.unlink()
        target.write_bytes(encode_like(original, change.after, change.path))
        if original is None:
            target.chmod(0o644)
    return [str(target) for target, _ in plan]


def submission_root(paths: list[str], context: str | None) -> Path:
    """The folder that is the submission: the one folder given, or the Dockerfile's folder."""
    if context:
        return Path(context)
    if len(paths) != 1:
        raise InputError("--out needs exactly one submission folder or Dockerfile (or --context)")
    path = Path(paths[0])
    return path if path.is_dir() else (path.parent if str(path.parent) else Path("."))


def write_copy(changes: list[FileChange], root: Path, out: Path) -> list[str]:
    """Copy `root` to `out` with the fixes applied; `out` appears only when complete."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError("output folder exists and is not empty", path=str(out))
    root_abs = root.resolve()
    out_abs = out.resolve()
    if out_abs == root_abs or root_abs in out_abs.parents:
        raise InputError("--out must not be inside the submission", path=str(out))
    plan = []
    for change in changes:
        if not change.changed:
            continue
        disk = Path(change.disk_path).resolve()
        if root_abs != disk and root_abs not in disk.parents:
            raise InputError(f"{change.path} is outside the submission folder {root}; "
                             "use --context or --write", path=change.path)
        plan.append((disk.relative_to(root_abs), change))
    out_abs.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_abs.parent, prefix=f".{out_abs.name}.carpenter-"))
    try:
        copy = staging / "tree"
        shutil.copytree(root_abs, copy, symlinks=True)
        # Plain writes: the staging tree is invisible until the one rename below, so a kill
        # leaves no half copy; per-file temp files, fsyncs and a journal would only add cost
        # (about a third of a batch's fix stage).
        written = _write_plain([(copy / rel, change) for rel, change in plan])
        if out.exists():
            out.rmdir()
        os.replace(copy, out_abs)
    except OSError as exc:
        raise InputError(f"cannot write the copy: {exc.strerror or exc}",
                         path=exc.filename) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [str(out_abs / Path(w).relative_to(copy)) for w in written]
