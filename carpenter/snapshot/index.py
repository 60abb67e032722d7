"""A dated index view: every version of a package that PyPI served at the cut-off, with the
time its first file was uploaded.

It lets `fix --offline` still answer "the newest version inside `>=0.68,<0.69` on that date"
for the snapshot's packages (the snapshot itself holds one version per package, the one a
single resolution chose). It is bundled next to the snapshot as
`<snapshot>.index.txt.gz`, one line per package, built by `scripts/dated_index.py` from
PyPI's PEP 691/700 JSON API:

    fastapi 0.68.0@2021-07-29T20:44Z 0.68.1@2021-08-24T11:52Z 0.68.2@2021-10-05T...

A version ending in `!` was yanked (pip only installs it when pinned exactly).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from carpenter.core.errors import SnapshotError

SUFFIX = ".index.txt.gz"
_TIME_FORMAT = "%Y-%m-%dT%H:%MZ"


@dataclass(frozen=True)
class Release:
    version: Version
    uploaded: datetime
    yanked: bool = False


@dataclass(frozen=True)
class DatedIndex:
    """name -> releases uploaded before the cut-off, oldest first."""

    cutoff: str
    releases: dict[str, tuple[Release, ...]]

    def __contains__(self, name: str) -> bool:
        return canonicalize_name(name) in self.releases

    def newest(self, name: str, specifier: str = "", prereleases: bool = False
               ) -> Release | None:
        """The newest non-yanked release inside `specifier` (None: nothing in range)."""
        try:
            spec = SpecifierSet(specifier)
        except InvalidSpecifier:
            return None
        for release in reversed(self.releases.get(canonicalize_name(name), ())):
            if release.yanked:
                continue
            if release.version.is_prerelease and not prereleases:
                continue
            if spec.contains(release.version, prereleases=True):
                return release
        return None


def index_path(snapshot_path: Path) -> Path:
    return snapshot_path.with_name(snapshot_path.name.removesuffix(".toml") + SUFFIX)


def format_index(cutoff: str, releases: dict[str, list[Release]]) -> str:
    lines = [f"# dated index view: PyPI releases uploaded before {cutoff} (first file upload)"]
    for name in sorted(releases):
        items = sorted(releases[name], key=lambda r: r.version)
        words = [f"{r.version}@{r.uploaded.strftime(_TIME_FORMAT)}{'!' if r.yanked else ''}"
                 for r in items]
        lines.append(" ".join([name, *words]))
    return "\n".join(lines) + "\n"


def parse_index(text: str, where: str = "") -> DatedIndex:
    cutoff = ""
    releases: dict[str, tuple[Release, ...]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            cutoff = cutoff or line.rsplit("before ", 1)[-1].split(" ", 1)[0]
            continue
        name, *words = line.split()
        try:
            items = [_release(word) for word in words]
        except (ValueError, InvalidVersion) as exc:
            raise SnapshotError(f"bad dated index entry: {exc}", path=where, line=number) from exc
        releases[canonicalize_name(name)] = tuple(sorted(items, key=lambda r: r.version))
    return DatedIndex(cutoff, releases)


def _release(word: str) -> Release:
    yanked = word.endswith("!")
    version, _, when = word.rstrip("!").partition("@")
    # fromisoformat is ~10x faster than strptime (the index has ~25k releases and every
    # batch worker parses it); the shape check keeps strptime's strictness.
    if len(when) != 17 or when[-1] != "Z" or when[10] != "T":
        raise ValueError(f"time data {when!r} does not match format {_TIME_FORMAT!r}")
    uploaded = datetime.fromisoformat(when[:-1]).replace(tzinfo=UTC)
    return Release(Version(version), uploaded, yanked)


@lru_cache(maxsize=8)
def load_index(snapshot_path: Path) -> DatedIndex | None:
    """The dated view bundled with a snapshot file; None when it has none."""
    path = index_path(snapshot_path)
    if not path.is_file():
        return None
    try:
        text = gzip.decompress(path.read_bytes()).decode()
    except (OSError, EOFError) as exc:
        raise SnapshotError(f"cannot read the dated index: {exc}", path=str(path)) from exc
    return parse_index(text, str(path))


def releases_before(name: str, cutoff: datetime, index_url: str) -> list[Release]:
    """From the live index: each version's first upload before the cut-off (network)."""
    from carpenter.snapshot.pypi import project_files

    first: dict[Version, tuple[datetime, bool]] = {}
    for f in project_files(name, index_url):
        if f.uploaded is None or f.uploaded >= cutoff:
            continue
        known = first.get(f.version)
        yanked = f.yanked and (known is None or known[1])  # yanked only if every file is
        first[f.version] = (min(f.uploaded, known[0]) if known else f.uploaded, yanked)
    return [Release(v, t, y) for v, (t, y) in first.items()]
