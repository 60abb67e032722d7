"""What a batch checks: a folder of submission folders, or a CSV/JSONL manifest.

Manifest columns: id, path or url (a git URL or a local repository), commit, dockerfile, track.
Bad input is reported with its file and line, never as a traceback.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from carpenter.core.errors import InputError

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
COLUMNS = ("id", "path", "url", "commit", "dockerfile", "track")


@dataclass(frozen=True)
class Entry:
    id: str
    source: str  # a local folder, or a git URL when `git` is true
    git: bool = False
    commit: str = ""
    dockerfile: str = "Dockerfile"
    track: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_inputs(path: Path) -> list[Entry]:
    if not path.exists():
        raise InputError("no such file or folder", path=str(path))
    if path.is_dir():
        entries = _from_folder(path)
    elif path.suffix.lower() == ".csv":
        entries = _from_rows(path, _csv_rows(path))
    elif path.suffix.lower() in (".jsonl", ".ndjson"):
        entries = _from_rows(path, _jsonl_rows(path))
    else:
        raise InputError("expected a folder of submissions or a .csv/.jsonl manifest",
                         path=str(path))
    if not entries:
        raise InputError("no submissions found (a folder needs subfolders with a Dockerfile)",
                         path=str(path))
    return entries


def _from_folder(root: Path) -> list[Entry]:
    return [Entry(id=_slug(child.name), source=str(child.resolve()))
            for child in sorted(root.iterdir())
            if child.is_dir() and (child / "Dockerfile").is_file()]


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "submission"
    return slug[:128]


def _csv_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "id" not in reader.fieldnames:
            raise InputError("the CSV header must name an id column and path or url",
                             path=str(path), line=1)
        return [(reader.line_num, row) for row in reader]


def _jsonl_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"not JSON: {exc.msg}", path=str(path), line=number) from None
        if not isinstance(row, dict):
            raise InputError("each line must be a JSON object", path=str(path), line=number)
        rows.append((number, row))
    return rows


def _from_rows(manifest: Path, rows: list[tuple[int, dict[str, Any]]]) -> list[Entry]:
    entries, seen = [], set()
    for line, row in rows:
        entry = _entry(manifest, line, {k: str(v or "").strip() for k, v in row.items() if k})
        if entry.id in seen:
            raise InputError(f"duplicate id {entry.id!r}", path=str(manifest), line=line)
        seen.add(entry.id)
        entries.append(entry)
    return entries


def _entry(manifest: Path, line: int, row: dict[str, str]) -> Entry:
    where = {"path": str(manifest), "line": line}
    unknown = sorted(set(row) - set(COLUMNS) - {"git", "repo"})
    if unknown:
        raise InputError(f"unknown column(s) {', '.join(unknown)} (known: "
                         f"{', '.join(COLUMNS)})", **where)
    ident = row.get("id", "")
    if not ID_RE.match(ident):
        raise InputError(f"id {ident!r}: letters, digits, '.', '_' and '-' only", **where)
    url = row.get("url") or row.get("git") or row.get("repo") or ""
    local = row.get("path", "")
    if bool(url) == bool(local):
        raise InputError("give exactly one of path or url", **where)
    dockerfile = row.get("dockerfile") or "Dockerfile"
    if Path(dockerfile).is_absolute() or ".." in Path(dockerfile).parts:
        raise InputError(f"dockerfile {dockerfile!r} must be relative to the submission", **where)
    if local:
        folder = (manifest.parent / local).resolve()
        if not folder.is_dir():
            raise InputError(f"path {local!r} is not a folder", **where)
        return Entry(ident, str(folder), dockerfile=dockerfile, track=row.get("track", ""),
                     commit=row.get("commit", ""))
    if "://" not in url and not url.startswith("git@"):
        url = str((manifest.parent / url).resolve())  # a local repository, relative to us
    return Entry(ident, url, git=True, commit=row.get("commit", ""), dockerfile=dockerfile,
                 track=row.get("track", ""))


def fetch(entry: Entry, dest: Path) -> dict[str, Any]:
    """Clone a git submission at its commit, with submodules, into `dest` (all or nothing)."""
    import git

    if (dest / ".carpenter-fetched").is_file():
        return {"status": "fetched", "path": str(dest),
                "commit": (dest / ".carpenter-fetched").read_text().strip()}
    shutil.rmtree(dest, ignore_errors=True)
    staging = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        repo = git.Repo.clone_from(entry.source, staging, no_checkout=bool(entry.commit))
        if entry.commit:
            repo.git.checkout(entry.commit)
        # Local test repositories use file:// submodules, which git refuses by default
        # (CVE-2022-39253); allow them only when the submission itself is local.
        local = "://" not in entry.source or entry.source.startswith("file://")
        extra = ["-c", "protocol.file.allow=always"] if local else []
        repo.git.execute(["git", *extra, "submodule", "update", "--init", "--recursive"])
        commit = repo.head.commit.hexsha
    except git.GitCommandError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        stderr = (exc.stderr or "").strip().splitlines()
        return {"status": "error", "error": f"git failed: {stderr[-1] if stderr else exc}"}
    (staging / ".carpenter-fetched").write_text(commit + "\n")
    staging.rename(dest)
    return {"status": "fetched", "path": str(dest), "commit": commit}
