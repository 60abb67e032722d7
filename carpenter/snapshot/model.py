"""The snapshot data model: what was known to work at a date, read from a TOML file.

A snapshot answers the questions `carpenter fix` asks offline: which version of a PyPI
package, which digest for an image reference, which commit for a repository, which dated
apt archive, which conda version, which prebuilt CUDA-extension wheel. The file format is
documented in carpenter/data/snapshots/README.md.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from carpenter.core.errors import SnapshotError
from carpenter.core.resources import data_dir

SCHEMA = 1
SNAPSHOT_DIR = data_dir() / "snapshots"
DEFAULT_SNAPSHOT = "neurips-2023"


@dataclass(frozen=True)
class Target:
    python: str
    platform: str
    torch: str | None = None
    cuda: str | None = None
    cudnn: str | None = None
    cxx11_abi: bool | None = None


@dataclass(frozen=True)
class BaseImage:
    ref: str
    digest: str
    source: str = ""


@dataclass(frozen=True)
class GitPin:
    url: str
    commit: str
    ref: str = ""
    source: str = ""


@dataclass(frozen=True)
class AptArchive:
    distro: str  # "debian" | "ubuntu"
    url: str
    security_url: str = ""
    source: str = ""


@dataclass(frozen=True)
class CudaWheel:
    package: str
    version: str
    torch: str  # major.minor, e.g. "2.1"
    cuda: str  # major.minor the wheel was built with, e.g. "12.2"
    python: str
    cxx11_abi: bool
    url: str
    source: str = ""


@dataclass(frozen=True)
class Override:
    """A combination that resolves but breaks at run time, and what to do instead."""

    id: str
    when: tuple[str, ...]  # canonical package names that must all be installed
    pins: dict[str, str]  # canonical name -> version to use instead of the table's
    env: dict[str, str]
    reason: str
    refs: tuple[str, ...]
    action: str = "pin"  # "pin" | "warn"


@dataclass
class Snapshot:
    name: str
    as_of: str
    target: Target
    description: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    pypi: dict[str, str] = field(default_factory=dict)
    base_images: dict[str, BaseImage] = field(default_factory=dict)
    git: dict[str, GitPin] = field(default_factory=dict)
    apt: dict[str, AptArchive] = field(default_factory=dict)
    conda: dict[str, str] = field(default_factory=dict)
    cuda_wheels: list[CudaWheel] = field(default_factory=list)
    overrides: list[Override] = field(default_factory=list)
    downloads: dict[str, str] = field(default_factory=dict)  # hub repo id -> revision sha
    path: Path | None = None

    # -- lookups used by `fix` -------------------------------------------------------------
    def version(self, name: str, installed: set[str] | None = None) -> tuple[str | None, str]:
        """Version for a PyPI package and why: ("1.2.3", "snapshot") / ("...", "override:<id>")."""
        key = canonicalize_name(name)
        for override in self.active_overrides(installed or set()):
            if override.action == "pin" and key in override.pins:
                return override.pins[key], f"override:{override.id}"
        return self.pypi.get(key), "snapshot"

    def active_overrides(self, installed: set[str]) -> list[Override]:
        conditional = [o for o in self.overrides if o.when]
        if not conditional:
            return []
        # Called once per requirement: canonicalising every installed name each time was
        # quadratic (1,000 packages in one RUN took seconds); the names are cached.
        names = {_canonical(n) for n in installed}
        return [o for o in conditional if set(o.when) <= names]

    def image_digest(self, ref: str) -> str | None:
        entry = self.base_images.get(normalize_image_ref(ref))
        return entry.digest if entry else None

    def git_commit(self, url: str) -> str | None:
        entry = self.git.get(normalize_git_url(url))
        return entry.commit if entry else None

    def cuda_wheel(self, package: str, torch: str | None, cuda: str | None,
                   python: str | None) -> CudaWheel | None:
        """The prebuilt wheel for an exact torch/CUDA-major/Python tuple, if recorded."""
        pkg = canonicalize_name(package)
        torch_mm = _major_minor(torch or self.target.torch or "")
        cuda_major = (cuda or self.target.cuda or "").split(".")[0]
        py = python or self.target.python
        for wheel in self.cuda_wheels:
            if (canonicalize_name(wheel.package) == pkg and wheel.torch == torch_mm
                    and wheel.cuda.split(".")[0] == cuda_major and wheel.python == py
                    and wheel.cxx11_abi == bool(self.target.cxx11_abi)):
                return wheel
        return None


def _major_minor(version: str) -> str:
    return ".".join(version.split("+")[0].split(".")[:2])


def normalize_image_ref(ref: str) -> str:
    """`docker.io/library/python:3.10` and `python:3.10` name the same image."""
    ref = ref.strip().split("@", 1)[0]
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/",
                   "index.docker.io/", "library/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            break
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        ref += ":latest"
    return ref


def normalize_git_url(url: str) -> str:
    """`https://github.com/Org/Repo.git`, `git+https://...`, `git@github.com:Org/Repo`: one key."""
    url = url.strip()
    if url.startswith("git+"):
        url = url[4:]
    url = url.split("#", 1)[0]
    if url.startswith("git@"):
        url = url[4:].replace(":", "/", 1)
    for scheme in ("https://", "http://", "ssh://git@", "ssh://", "git://"):
        if url.startswith(scheme):
            url = url[len(scheme):]
            break
    if "@" in url.split("/", 1)[0]:  # credentials in the host part
        url = url.split("@", 1)[1]
    # A trailing @ref on a VCS requirement is not part of the repository.
    host, _, path = url.partition("/")
    path = path.split("@", 1)[0].rstrip("/")
    if path.endswith(".git"):
        path = path[:-4]
    return f"{host.lower()}/{path.lower()}"


# -- loading --------------------------------------------------------------------------------

def available_snapshots() -> list[str]:
    return sorted(p.stem for p in SNAPSHOT_DIR.glob("*.toml"))


def resolve_snapshot_path(name_or_path: str | Path) -> Path:
    """A bundled snapshot name (`neurips-2023`) or a path to a TOML file."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists() or "/" in str(name_or_path):
        if not candidate.is_file():
            raise SnapshotError("snapshot file not found", path=str(candidate))
        return candidate
    bundled = SNAPSHOT_DIR / f"{name_or_path}.toml"
    if not bundled.is_file():
        known = ", ".join(available_snapshots()) or "none"
        raise SnapshotError(f"no bundled snapshot named {name_or_path!r} (bundled: {known})")
    return bundled


_CACHE: dict[tuple[str, float], Snapshot] = {}


def load_snapshot(name_or_path: str | Path = DEFAULT_SNAPSHOT) -> Snapshot:
    path = resolve_snapshot_path(name_or_path)
    key = (str(path.resolve()), path.stat().st_mtime)
    if key not in _CACHE:
        _CACHE[key] = parse_snapshot(path.read_bytes(), path)
    return _CACHE[key]


def parse_snapshot(data: bytes, path: Path | None = None) -> Snapshot:
    where = str(path) if path else "<snapshot>"
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SnapshotError("snapshot is not UTF-8 text", path=where) from exc
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise SnapshotError(f"invalid TOML: {exc}", path=where, line=line) from exc
    try:
        snap = _from_doc(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"malformed snapshot: {exc!s}", path=where) from exc
    snap.path = path
    return snap


def _require(doc: dict[str, Any], key: str, kind: type) -> Any:
    if key not in doc:
        raise KeyError(f"missing key {key!r}")
    value = doc[key]
    if not isinstance(value, kind):
        raise TypeError(f"{key!r} must be a {kind.__name__}")
    return value


def _from_doc(doc: dict[str, Any]) -> Snapshot:
    schema = doc.get("schema", SCHEMA)
    if schema != SCHEMA:
        raise ValueError(f"unsupported schema {schema!r} (this Carpenter reads {SCHEMA})")
    target = _require(doc, "target", dict)
    snap = Snapshot(
        name=_require(doc, "name", str),
        as_of=str(doc["as_of"]) if "as_of" in doc else _require(doc, "as_of", str),
        description=doc.get("description", ""),
        target=Target(
            python=_require(target, "python", str),
            platform=_require(target, "platform", str),
            torch=target.get("torch"),
            cuda=target.get("cuda"),
            cudnn=target.get("cudnn"),
            cxx11_abi=target.get("cxx11_abi"),
        ),
        provenance=dict(doc.get("provenance", {})),
    )
    snap.pypi = {canonicalize_name(k): str(v) for k, v in doc.get("pypi", {}).items()}
    snap.conda = {k.lower(): str(v) for k, v in doc.get("conda", {}).items()}
    snap.downloads = {k: str(v) for k, v in doc.get("downloads", {}).items()}
    for ref, entry in doc.get("base_images", {}).items():
        digest = _require(entry, "digest", str)
        if not digest.startswith("sha256:") or len(digest) != 71:
            raise ValueError(f"base image {ref!r}: digest must be sha256:<64 hex>")
        snap.base_images[normalize_image_ref(ref)] = BaseImage(ref, digest, entry.get("source", ""))
    for url, entry in doc.get("git", {}).items():
        commit = _require(entry, "commit", str)
        if len(commit) != 40 or any(c not in "0123456789abcdef" for c in commit):
            raise ValueError(f"git {url!r}: commit must be 40 lower-case hex digits")
        snap.git[normalize_git_url(url)] = GitPin(url, commit, entry.get("ref", ""),
                                                  entry.get("source", ""))
    for distro, entry in doc.get("apt", {}).items():
        snap.apt[distro] = AptArchive(distro, _require(entry, "url", str),
                                      entry.get("security_url", ""), entry.get("source", ""))
    for entry in doc.get("cuda_wheels", []):
        snap.cuda_wheels.append(CudaWheel(
            package=_require(entry, "package", str), version=_require(entry, "version", str),
            torch=_require(entry, "torch", str), cuda=_require(entry, "cuda", str),
            python=_require(entry, "python", str), cxx11_abi=bool(entry.get("cxx11_abi", False)),
            url=_require(entry, "url", str), source=entry.get("source", "")))
    for entry in doc.get("overrides", []):
        action = entry.get("action", "pin")
        if action not in ("pin", "warn"):
            raise ValueError(f"override {entry.get('id')!r}: action must be pin or warn")
        snap.overrides.append(Override(
            id=_require(entry, "id", str),
            when=tuple(canonicalize_name(n) for n in entry.get("when", [])),
            pins={canonicalize_name(k): str(v) for k, v in entry.get("pins", {}).items()},
            env={k: str(v) for k, v in entry.get("env", {}).items()},
            reason=_require(entry, "reason", str),
            refs=tuple(entry.get("refs", [])), action=action))
    return snap


@lru_cache(maxsize=65536)
def _canonical(name: str) -> str:
    return canonicalize_name(name)
