"""Date-bounded look-ups for `fix`: base-image digests, git commits, hub revisions and the
PyPI release that replaces a GitHub install, with the bundled snapshot as the offline answer.

Each answer is a `Pin`: the value, where it came from (`origin`), and a note that says so in
the fix output, so a user can tell a pin checked against a live source from one taken from
the bundled table. A source that does not answer is asked once per run: later look-ups for
the same host go straight to the bundled table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from packaging.utils import canonicalize_name

from carpenter.core.errors import SnapshotError
from carpenter.snapshot.create import PYPI, cutoff_of
from carpenter.snapshot.gitrefs import GitLookupError, GitRefs, strip_credentials
from carpenter.snapshot.hub import HubClient, HubError
from carpenter.snapshot.model import Snapshot, normalize_image_ref
from carpenter.snapshot.registry import (
    ImageDigest,
    Mirror,
    RegistryClient,
    RegistryError,
    parse_image_name,
)

BUNDLED = "bundled"


@dataclass(frozen=True)
class Pin:
    value: str | None
    origin: str = ""  # "registry" | "git" | "hub" | "pypi" | "bundled" | "" (nothing found)
    note: str = ""  # what the user should know (where it came from, a late push)
    reason: str = ""  # why there is no value

    @property
    def looked_up(self) -> bool:
        return self.value is not None and self.origin != BUNDLED


@dataclass
class Lookups:
    """One per fix run (per worker process); clients are made on first use."""

    snapshot: Snapshot
    online: bool = True
    timeout: float = 20
    mirrors: tuple[Mirror, ...] = ()  # registry mirrors, asked before the registries
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _dead: dict[str, str] = field(default_factory=dict, repr=False)  # source -> why
    _cache: dict[tuple, Pin] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:  # worker processes start with fresh clients
        return {"snapshot": self.snapshot, "online": self.online, "timeout": self.timeout,
                "mirrors": self.mirrors, "_clients": {}, "_dead": {}, "_cache": {}}

    @property
    def cutoff(self) -> datetime:
        return cutoff_of(self.snapshot.as_of)

    # -- base images -----------------------------------------------------------------------
    def image_digest(self, ref: str) -> Pin:
        return self._cached(("image", normalize_image_ref(ref)), lambda: self._image(ref))

    def _image(self, ref: str) -> Pin:
        bundled = self.snapshot.image_digest(ref)
        if not self.online:
            return self._bundled(bundled, "offline", f"no digest for {normalize_image_ref(ref)}",
                                 f"FROM {ref}: digest")
        try:
            parse_image_name(ref)
        except RegistryError as exc:
            return Pin(None, reason=str(exc))
        # The client asks each mirror and registry host once per run: one that cannot be
        # reached answers at once afterwards, while the others (a mirror) are still asked.
        client = self._client("registry", lambda: RegistryClient(self.timeout,
                                                                 mirrors=self.mirrors))
        try:
            found = client.resolve(ref)
        except RegistryError as exc:
            return self._bundled(bundled, str(exc), "", f"FROM {ref}: digest")
        day = self.snapshot.as_of
        origin, where = _image_source(found)
        if found.pushed_after(self.cutoff):
            pushed = found.pushed.date().isoformat() if found.pushed else "?"
            if bundled and bundled != found.digest:
                # The registry only knows the tag's latest push; the bundled digest was
                # recorded for this snapshot, so it is the closer image.
                return Pin(bundled, BUNDLED, f"FROM {ref}: tag re-pushed on {pushed}, after "
                           f"{day}; kept the bundled digest of the snapshot")
            return Pin(found.digest, origin, f"FROM {ref}: the tag was pushed on {pushed}, "
                       f"after {day}: the digest ({where}) proves a later "
                       "image than the one of the date; choose an older tag to match it")
        when = f", tag pushed {found.pushed.date()}" if found.pushed else ""
        return Pin(found.digest, origin, f"FROM {ref}: digest {where}{when}")

    # -- git -------------------------------------------------------------------------------
    def git_commit(self, url: str, ref: str | None) -> Pin:
        return self._cached(("git", url, ref or ""), lambda: self._git(url, ref))

    def _git(self, url: str, ref: str | None) -> Pin:
        bundled = self.snapshot.git_commit(url)
        shown = strip_credentials(url)
        if not self.online:
            return self._bundled(bundled, "offline", f"no commit for {shown}",
                                 f"{shown}: commit")
        host = _host_of(url)
        if host in self._dead:
            return self._bundled(bundled, self._dead[host], "", f"{shown}: commit")
        try:
            found = self._client("git", lambda: GitRefs(timeout=max(self.timeout, 60))) \
                .commit_at(url, ref, self.cutoff)
        except GitLookupError as exc:
            if _unreachable(str(exc)):
                self._dead[host] = str(exc)
            return self._bundled(bundled, str(exc), "", f"{shown}: commit")
        if found.moved:  # the tag is later than the date: say so, whatever stands in
            return Pin(found.commit, "git", f"{shown}: WARNING {found.moved} (looked up in "
                       "the repository)")
        what = {"tag": f"tag {found.ref}", "branch": f"branch {found.ref} as of "
                f"{self.snapshot.as_of}", "commit": "commit"}[found.kind]
        return Pin(found.commit, "git", f"{shown}: {what} -> {found.commit[:12]} (looked up "
                   "in the repository)")

    # -- hub -------------------------------------------------------------------------------
    def hub_revision(self, repo_id: str, repo_type: str = "model", revision: str = "main"
                     ) -> Pin:
        return self._cached(("hub", repo_type, repo_id, revision),
                            lambda: self._hub(repo_id, repo_type, revision))

    def _hub(self, repo_id: str, repo_type: str, revision: str) -> Pin:
        bundled = self.snapshot.downloads.get(repo_id)
        if not self.online:
            return self._bundled(bundled, "offline", f"no revision for {repo_id}",
                                 f"{repo_id}: revision")
        if "hub" in self._dead:
            return self._bundled(bundled, self._dead["hub"], "", f"{repo_id}: revision")
        try:
            found = self._client("hub", lambda: HubClient(timeout=self.timeout)) \
                .revision_at(repo_id, self.cutoff, revision, repo_type)
        except HubError as exc:
            if "does not answer" in str(exc):
                self._dead["hub"] = str(exc)
            return self._bundled(bundled, str(exc), "", f"{repo_id}: revision")
        return Pin(found.commit, "hub", f"{repo_id}: revision {found.commit[:12]} of "
                   f"{found.date.date()} (looked up on the hub)")

    # -- PyPI release for a GitHub install --------------------------------------------------
    def pypi_release(self, name: str, github_project: str) -> Pin:
        return self._cached(("pypi", canonicalize_name(name)),
                            lambda: self._pypi(name, github_project))

    def _pypi(self, name: str, github_project: str) -> Pin:
        key = canonicalize_name(name)
        bundled = self.snapshot.pypi.get(key)
        if bundled is not None:
            return Pin(bundled, BUNDLED, f"{name}=={bundled} from the snapshot's PyPI table "
                       "replaces the GitHub install")
        if not self.online or "pypi" in self._dead:
            return Pin(None, reason="not in the snapshot's PyPI table")
        from carpenter.snapshot import pypi

        try:
            found = pypi.latest_before(key, self.cutoff, PYPI, allow_prerelease=False)
        except SnapshotError as exc:
            if "404" not in str(exc):
                self._dead["pypi"] = str(exc)
            return Pin(None, reason=f"{name} is not on PyPI" if "404" in str(exc) else
                       f"PyPI does not answer ({exc})")
        if found is None:
            return Pin(None, reason=f"{name} had no release on PyPI by {self.snapshot.as_of}")
        version = str(found[0])
        same = _same_project(key, version, github_project, self.timeout)
        if same is False:
            return Pin(None, reason=f"the PyPI project {name} is another project")
        caution = "" if same else " (PyPI names no repository: check it is the same project)"
        return Pin(version, "pypi", f"{name}=={version} (uploaded {found[1].date()}, looked "
                   f"up on PyPI) replaces the GitHub install{caution}")

    # -- helpers ---------------------------------------------------------------------------
    def _cached(self, key: tuple, compute) -> Pin:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def _client(self, kind: str, make):
        if kind not in self._clients:
            self._clients[kind] = make()
        return self._clients[kind]

    def _bundled(self, value: str | None, why: str, missing: str, subject: str) -> Pin:
        """The bundled table's answer after `why` ("offline" or the failed look-up)."""
        where = f"snapshot {self.snapshot.name}"
        if value is not None:
            since = "--offline" if why == "offline" else f"look-up failed: {why}"
            return Pin(value, BUNDLED, f"{subject} from the bundled {where} ({since})")
        if why == "offline":
            return Pin(None, reason=f"{missing} in {where} (offline: nothing looked up)")
        return Pin(None, reason=f"{why}; not in {where} either")


def _image_source(found: ImageDigest) -> tuple[str, str]:
    """(origin, how the digest was found) for the note."""
    if found.mirror is None:
        tried = f" (after {'; '.join(found.skipped)})" if found.skipped else ""
        return "registry", f"looked up in the registry{tried}"
    return "mirror", (f"looked up through the registry mirror {found.mirror.shown()}, "
                      f"configured by {found.mirror.source}")


def _host_of(url: str) -> str:
    match = re.match(r"^(?:git\+)?[a-z+]+://(?:[^/@]+@)?([^/]+)", url)
    return match.group(1) if match else url.split(":", 1)[0]


def _unreachable(message: str) -> bool:
    return any(s in message for s in ("Could not resolve host", "unable to access",
                                      "Connection refused", "no answer in", "timed out",
                                      "unable to connect"))


def _same_project(name: str, version: str, github_project: str, timeout: float) -> bool | None:
    """Whether the PyPI release names the GitHub project (by its repository name, since
    organisations get renamed); None when its metadata names no GitHub repository."""
    import requests

    try:
        response = requests.get(f"https://pypi.org/pypi/{name}/{version}/json", timeout=timeout)
        info = response.json().get("info", {}) if response.ok else {}
    except (requests.RequestException, ValueError, AttributeError):
        return None
    urls = [info.get("home_page") or "", *(info.get("project_urls") or {}).values()]
    repos = {m.group(1).lower().removesuffix(".git") for u in urls if isinstance(u, str)
             for m in [re.search(r"github\.com/[^/\s]+/([^/\s#?]+)", u)] if m}
    if not repos:
        return None
    return github_project.lower().removesuffix(".git") in repos
