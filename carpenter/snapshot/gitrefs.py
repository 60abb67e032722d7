"""A git branch or tag -> the commit it pointed at on a cut-off date.

Tags are read with `git ls-remote` (no history needed). A branch needs history: it is fetched
without trees or blobs (`--filter=tree:0`, only commits travel) into a temporary bare
repository, then `git rev-list -1 --first-parent --before=<date>` walks the branch's own line
back to the last commit made on or before the date. `--first-parent` matters: a feature
commit written before the date but merged after it was not on the branch at the date.
Servers that do not support filters (plain `file://`, an old daemon) send full commits; the
answer is the same.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime

from carpenter.core.redact import safe_text

_SHA = re.compile(r"^[0-9a-f]{40}$")


class GitLookupError(Exception):
    """The repository could not be asked, or has no such ref at the date; safe to print."""


@dataclass(frozen=True)
class GitCommit:
    url: str
    ref: str  # what was asked ("" = the default branch); the branch name when resolved
    commit: str
    kind: str  # "tag" | "branch" | "commit"
    committed: datetime | None = None  # the commit's committer date (branches)


def strip_credentials(url: str) -> str:
    """`https://user:token@host/x` -> `https://host/x`, for messages."""
    return re.sub(r"(://)[^/@\s]+@", r"\1", url)


class GitRefs:
    """Look-ups against remote repositories; fetched histories are kept for the run."""

    def __init__(self, timeout: float = 120, git: str = "git") -> None:
        self.timeout = timeout
        self.git = git
        self._workdir: str | None = None
        self._listed: dict[str, dict[str, str]] = {}
        self._fetched: dict[tuple[str, str], str] = {}  # (url, branch) -> bare repo path

    def close(self) -> None:
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __del__(self) -> None:
        self.close()

    # -- public ----------------------------------------------------------------------------
    def commit_at(self, url: str, ref: str | None, cutoff: datetime) -> GitCommit:
        """The commit `ref` (tag or branch; None = default branch) named at `cutoff`."""
        if ref and _SHA.match(ref):
            return GitCommit(url, ref, ref, "commit")
        refs = self.list_refs(url)
        if not ref:
            ref = self._default_branch(url, refs)
        tag = refs.get(f"refs/tags/{ref}^{{}}") or refs.get(f"refs/tags/{ref}")
        if tag is not None:
            # A tag moved after the date is rare; ls-remote is the only record there is.
            return GitCommit(url, ref, tag, "tag")
        if f"refs/heads/{ref}" not in refs:
            raise GitLookupError(f"{self._safe(url)}: no branch or tag named {ref!r}")
        return self._branch_at(url, ref, cutoff)

    def list_refs(self, url: str) -> dict[str, str]:
        if url not in self._listed:
            out = self._run(["ls-remote", "--symref", url], what=f"ls-remote {url}")
            refs: dict[str, str] = {}
            for line in out.splitlines():
                value, _, name = line.partition("\t")
                if value.startswith("ref: "):  # `ref: refs/heads/main\tHEAD`
                    refs["symref:" + name] = value[5:].strip()
                elif _SHA.match(value):
                    refs[name] = value
            self._listed[url] = refs
        return self._listed[url]

    # -- internals -------------------------------------------------------------------------
    def _default_branch(self, url: str, refs: dict[str, str]) -> str:
        target = refs.get("symref:HEAD", "")
        if target.startswith("refs/heads/"):
            return target[len("refs/heads/"):]
        for name in ("main", "master"):
            if f"refs/heads/{name}" in refs:
                return name
        raise GitLookupError(f"{self._safe(url)}: no default branch")

    def _branch_at(self, url: str, branch: str, cutoff: datetime) -> GitCommit:
        repo = self._fetch(url, branch)
        stamp = cutoff.isoformat()
        out = self._run(["-C", repo, "rev-list", "-1", "--first-parent", f"--before={stamp}",
                         "--format=%cI", f"refs/heads/{branch}"], what=f"rev-list {url}")
        lines = [line for line in out.splitlines() if line.strip()]
        # `--format` prints "commit <sha>" then the formatted line.
        if len(lines) < 2 or not lines[0].startswith("commit "):
            raise GitLookupError(f"{self._safe(url)}: branch {branch!r} has no commit on or "
                                 f"before {cutoff.date()}")
        commit = lines[0].split()[1]
        committed = datetime.fromisoformat(lines[1].strip())
        return GitCommit(url, branch, commit, "branch", committed)

    def _fetch(self, url: str, branch: str) -> str:
        key = (url, branch)
        if key in self._fetched:
            return self._fetched[key]
        if self._workdir is None:
            self._workdir = tempfile.mkdtemp(prefix="carpenter-git-")
        repo = os.path.join(self._workdir, f"r{len(self._fetched)}.git")
        self._run(["init", "-q", "--bare", repo], what="git init")
        self._run(["-C", repo, "fetch", "-q", "--no-tags", "--filter=tree:0", url,
                   f"+refs/heads/{branch}:refs/heads/{branch}"], what=f"fetch {url}")
        self._fetched[key] = repo
        return repo

    def _run(self, args: list[str], what: str) -> str:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true",
               "SSH_ASKPASS": "true", "GCM_INTERACTIVE": "never", "LC_ALL": "C"}
        try:
            done = subprocess.run([self.git, *args], capture_output=True, text=True,
                                  timeout=self.timeout, env=env, check=False)
        except FileNotFoundError:
            raise GitLookupError("git is not installed") from None
        except subprocess.TimeoutExpired:
            raise GitLookupError(self._safe(f"{what}: no answer in {self.timeout:.0f}s")) \
                from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["failed"])[-1]
            raise GitLookupError(self._safe(f"{what}: {last}"))
        return done.stdout

    @staticmethod
    def _safe(text: str) -> str:
        return safe_text(strip_credentials(text))
