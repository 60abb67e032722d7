"""Compare two snapshots and summarise one (`carpenter snapshot diff|show`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from carpenter.snapshot.model import Snapshot


@dataclass(frozen=True)
class Change:
    section: str
    key: str
    old: str | None
    new: str | None

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        try:
            return "upgraded" if Version(self.new) > Version(self.old) else "downgraded"
        except InvalidVersion:
            return "changed"


def _flat(snap: Snapshot) -> dict[str, dict[str, str]]:
    return {
        "pypi": dict(snap.pypi),
        "base_images": {k: v.digest for k, v in snap.base_images.items()},
        "git": {k: v.commit for k, v in snap.git.items()},
        "apt": {k: v.url for k, v in snap.apt.items()},
        "conda": dict(snap.conda),
        "cuda_wheels": {f"{w.package} torch{w.torch} cu{w.cuda} py{w.python}": w.version
                        for w in snap.cuda_wheels},
        "overrides": {o.id: ",".join(f"{k}=={v}" for k, v in o.pins.items()) or o.action
                      for o in snap.overrides},
        "downloads": dict(snap.downloads),
    }


def diff_snapshots(old: Snapshot, new: Snapshot) -> list[Change]:
    a, b = _flat(old), _flat(new)
    changes = []
    for section in a:
        for key in sorted(set(a[section]) | set(b[section])):
            before, after = a[section].get(key), b[section].get(key)
            if before != after:
                changes.append(Change(section, key, before, after))
    return changes


def summary(snap: Snapshot) -> dict[str, Any]:
    t = snap.target
    return {
        "name": snap.name, "as_of": snap.as_of, "description": snap.description,
        "path": str(snap.path) if snap.path else None,
        "target": {"python": t.python, "platform": t.platform, "torch": t.torch, "cuda": t.cuda,
                   "cudnn": t.cudnn, "cxx11_abi": t.cxx11_abi},
        "counts": {"pypi": len(snap.pypi), "base_images": len(snap.base_images),
                   "git": len(snap.git), "apt": len(snap.apt), "conda": len(snap.conda),
                   "cuda_wheels": len(snap.cuda_wheels), "overrides": len(snap.overrides),
                   "downloads": len(snap.downloads)},
        "provenance": snap.provenance,
    }
