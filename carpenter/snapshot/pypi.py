"""Upload times from PyPI's JSON simple API (PEP 691 + PEP 700).

Used to check a resolution after the fact (every pinned file must predate the cut-off) and
to date packages the resolver cannot build metadata for (sdist-only CUDA extensions whose
setup.py imports torch).
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from carpenter.core.errors import SnapshotError

ACCEPT = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class FileInfo:
    filename: str
    version: Version
    uploaded: datetime | None
    yanked: bool


def _version_of(filename: str, name: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def project_files(name: str, index_url: str, timeout: float = 60) -> list[FileInfo]:
    url = f"{index_url.rstrip('/')}/{canonicalize_name(name)}/"
    request = urllib.request.Request(url, headers={"Accept": ACCEPT})
    # Default context: honours SSL_CERT_FILE, which is how the TLS proxy's CA is trusted.
    context = ssl.create_default_context()
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            doc = json.load(response)
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"cannot read {url}: {exc}") from exc
    files = []
    for entry in doc.get("files", []):
        version = _version_of(entry["filename"], name)
        if version is None:
            continue
        files.append(FileInfo(entry["filename"], version, _parse_time(entry.get("upload-time")),
                              bool(entry.get("yanked"))))
    return files


def latest_before(name: str, cutoff: datetime, index_url: str,
                  allow_prerelease: bool = False) -> tuple[Version, datetime] | None:
    """Highest non-yanked version with a file uploaded before the cut-off."""
    best: tuple[Version, datetime] | None = None
    for f in project_files(name, index_url):
        if f.yanked or f.uploaded is None or f.uploaded >= cutoff:
            continue
        if f.version.is_prerelease and not allow_prerelease:
            continue
        if best is None or f.version > best[0]:
            best = (f.version, f.uploaded)
    return best


def first_upload(name: str, version: str, index_url: str) -> datetime | None:
    """When the first file of `name==version` appeared (None: no dated file)."""
    wanted = Version(version)
    times = [f.uploaded for f in project_files(name, index_url)
             if f.version == wanted and f.uploaded is not None]
    return min(times) if times else None


def first_uploads(pins: dict[str, str], index_url: str,
                  workers: int = 16) -> dict[str, datetime | None]:
    names = list(pins)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        times = pool.map(lambda n: first_upload(n, pins[n], index_url), names)
        return dict(zip(names, times, strict=True))
