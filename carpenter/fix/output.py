"""Writing fixes: in place (`--write`) or into a repaired copy of the submission (`--out`).

Both are all-or-nothing: every new file is first written next to its target, and only when
all of them exist are they renamed over the originals (os.replace is atomic per file). A
failure removes the temporary files and leaves the input untouched.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from carpenter.errors import InputError
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


def write_in_place(changes: list[FileChange]) -> list[str]:
    plan = [(Path(c.disk_path), c) for c in changes if c.changed]
    return _commit(plan)


def _commit(plan: list[tuple[Path, FileChange]]) -> list[str]:
    temps: list[tuple[str, Path]] = []
    try:
        for target, change in plan:
            original = target.read_bytes() if target.exists() else None
            data = encode_like(original, change.after, change.path)
            mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o644
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.carpenter-")
            temps.append((tmp, target))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, mode)
    except OSError as exc:
        _cleanup(temps)
        raise InputError(f"cannot write: {exc.strerror or exc}", path=exc.filename) from None
    except BaseException:
        _cleanup(temps)
        raise
    for tmp, target in temps:
        os.replace(tmp, target)
    return [str(target) for _, target in temps]


def _cleanup(temps: list[tuple[str, Path]]) -> None:
    for tmp, _ in temps:
        Path(tmp).unlink(missing_ok=True)


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
        written = _commit([(copy / rel, change) for rel, change in plan])
        if out.exists():
            out.rmdir()
        os.replace(copy, out_abs)
    except OSError as exc:
        raise InputError(f"cannot write the copy: {exc.strerror or exc}",
                         path=exc.filename) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [str(out_abs / Path(w).relative_to(copy)) for w in written]
