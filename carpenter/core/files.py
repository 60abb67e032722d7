"""The one way Carpenter writes files: never a partial file, never a half-applied change.

- `write_atomic(path, text)`: one file, through a temporary file and os.replace.
- `write_all(plan)`: several files, all or nothing, even across `kill -9`. Every new file is
  first written completely next to its target; then a journal naming every (temporary,
  target) pair is written and synced; then the renames happen; then the journal goes. A run
  killed before the journal exists left only temporary files, which `recover()` deletes; a
  run killed after it left a complete set of new files, which `recover()` renames into place.
  Either way the folder ends with all old files or all new ones.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import TYPE_CHECKING

from carpenter.core.errors import InputError
from carpenter.core.records import record

if TYPE_CHECKING:  # imported where a write needs it: a read-only scan uses no pathlib
    from pathlib import Path

TEMP_MARK = ".carpenter-"
JOURNAL = ".carpenter-journal.json"


def write_atomic(path: str | os.PathLike[str], data: str | bytes, mode: int | None = None) -> None:
    """Write `data` to `path` via a temporary file and os.replace (a symlink stays a link)."""
    shown = str(path)
    target = os.path.realpath(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if os.path.exists(target) and not os.path.isfile(target):
        # /dev/null, /dev/stdout or a FIFO: replacing it would swap out a device node.
        try:
            with open(target, "wb") as handle:
                handle.write(raw)
        except OSError as exc:
            raise InputError(f"cannot write output: {exc.strerror or exc}", path=shown) from None
        return
    from pathlib import Path

    try:
        tmp = _temp_beside(Path(target), raw, _mode_for(target, mode))
        os.replace(tmp, target)
    except OSError as exc:
        raise InputError(f"cannot write output: {exc.strerror or exc}", path=shown) from None


@record(frozen=True)
class Planned:
    """One file `write_all` writes: its bytes and mode."""

    target: Path
    data: bytes
    mode: int | None = None  # None: keep the target's mode (0644 less umask for a new file)


def write_all(plan: list[Planned], journal_dir: Path) -> list[str]:
    """Write every planned file or none; returns the targets written."""
    recover(journal_dir)
    temps: list[tuple[str, Path]] = []
    try:
        for item in plan:
            item.target.parent.mkdir(parents=True, exist_ok=True)
            temps.append((_temp_beside(item.target, item.data,
                                       _mode_for(str(item.target), item.mode)), item.target))
        journal = journal_dir / JOURNAL
        if len(temps) > 1:
            _write_journal(journal, temps)
    except OSError as exc:
        _remove([t for t, _ in temps])
        raise InputError(f"cannot write: {exc.strerror or exc}", path=exc.filename) from None
    except BaseException:
        _remove([t for t, _ in temps])
        raise
    for tmp, target in temps:
        os.replace(tmp, target)
    with contextlib.suppress(FileNotFoundError):
        journal.unlink()
    return [str(target) for _, target in temps]


def recover(folder: Path, extra: tuple[Path, ...] = ()) -> list[str]:
    """Finish an interrupted write_all in `folder` and delete stale temporary files there and
    in `extra` folders. Returns what it did, one line per file, for the user to read."""
    done: list[str] = []
    journal = folder / JOURNAL
    if journal.is_file():
        try:
            pairs = json.loads(journal.read_text(encoding="utf-8"))["files"]
        except (OSError, ValueError, KeyError, TypeError):
            pairs = []
        for tmp, target in pairs:
            if isinstance(tmp, str) and isinstance(target, str) and TEMP_MARK in tmp \
                    and os.path.isfile(tmp):
                os.replace(tmp, target)
                done.append(f"completed an interrupted write: {target}")
        with contextlib.suppress(OSError):
            journal.unlink()
    for place in (folder, *extra):
        done.extend(_remove_stale(place))
    return done


def _remove_stale(folder: Path) -> list[str]:
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.startswith(".") and TEMP_MARK in entry.name and entry.is_file(
                    follow_symlinks=False) and entry.name != JOURNAL:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(f"removed a stale temporary file: {entry.path}")
    return removed


def _write_journal(journal: Path, temps: list[tuple[str, Path]]) -> None:
    body = json.dumps({"files": [[tmp, str(target)] for tmp, target in temps]})
    tmp = _temp_beside(journal, body.encode(), 0o600)
    os.replace(tmp, journal)
    _sync_dir(journal.parent)


def _temp_beside(target: Path, data: bytes, mode: int) -> str:
    import tempfile  # only when writing (~5 ms of a read-only cold scan otherwise)

    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}{TEMP_MARK}")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def _mode_for(target: str, mode: int | None) -> int:
    if mode is not None:
        return mode
    with contextlib.suppress(OSError):
        return os.stat(target).st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask  # mkstemp's 0600 would surprise readers of a report


def _sync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove(paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)
