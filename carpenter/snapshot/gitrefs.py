"""A git branch or tag -> the commit it pointed at on a cut-off date.

A branch needs history: it is fetched without trees or blobs (`--filter=tree:0`, only commits
travel) into a temporary bare repository, then `git rev-list -1 --first-parent
--before=<date>` walks the branch's own line back to the last commit made on or before the
date. `--first-parent` matters: a feature commit written before the date but merged after it
was not on the branch at the date. Servers that do not support filters (plain `file://`, an
old daemon) send full commits; the answer is the same.

A tag is listed by `git ls-remote`, which only knows where it points today. Its commits are
fetched the same way to date it: a tag whose commit was made after the cut-off, or whose
annotation (tagger date) was written after it, was created or re-pointed after the date. The
answer then says so (`GitCommit.moved`), and when the tag's commit is itself later than the
cut-off the last commit of its history made on or before the date stands in. A lightweight
tag re-pointed to another commit of before the date leaves no trace a server shows: that case
is not detected.
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
    committed: datetime | None = None  # the commit's committer date (branches, tags)
    # Tags only: set when the tag was created or re-pointed after the cut-off; says what the
    # tag names today and what stands in for it (safe to print).
    moved: str = ""
    tagged: datetime | None = None  # an annotated tag's tagger date


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")


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
            return self._tag_at(url, ref, tag, cutoff)
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
        found = self._last_before(repo, f"refs/heads/{branch}", cutoff)
        if found is None:
            raise GitLookupError(f"{self._safe(url)}: branch {branch!r} has no commit on or "
                                 f"before {cutoff.date()}")
        return GitCommit(url, branch, found[0], "branch", found[1])

    def _tag_at(self, url: str, tag: str, commit: str, cutoff: datetime) -> GitCommit:
        """The tag's commit, dated: today's answer when the tag already named it at the
        cut-off, else a warning and (for a later commit) the last commit of the date."""
        ref = f"refs/tags/{tag}"
        repo = self._fetch(url, ref)
        # `%(taggerdate)` is empty for a lightweight tag; `%(*objectname)` peels an annotated
        # one (empty too for a lightweight tag, whose own object is the commit).
        head = self._run(["-C", repo, "for-each-ref", "--format=%(taggerdate:iso-strict)",
                          ref], what=f"for-each-ref {url}").strip()
        tagged = datetime.fromisoformat(head) if head else None
        committed = self._committed(repo, commit, url)
        found = GitCommit(url, tag, commit, "tag", committed, tagged=tagged)
        if committed > cutoff:
            before = self._last_before(repo, commit, cutoff)
            when = _stamp(cutoff)
            if before is None:
                raise GitLookupError(f"{self._safe(url)}: tag {tag!r} names a commit of "
                                     f"{committed.date()}, after the cut-off {when}, and its "
                                     "history has no commit before it")
            return GitCommit(url, tag, before[0], "tag", before[1], tagged=tagged, moved=(
                f"tag {tag} names {commit[:12]} of {committed.date()}, after the cut-off "
                f"{when}: created or re-pointed after the date; pinned {before[0][:12]} of "
                f"{before[1].date()}, the last commit of its history before the cut-off"))
        if tagged is not None and tagged > cutoff:
            return GitCommit(url, tag, commit, "tag", committed, tagged=tagged, moved=(
                f"tag {tag} was written on {tagged.date()}, after the cut-off "
                f"{_stamp(cutoff)} (created or re-pointed after the date); its commit "
                f"{commit[:12]} of {committed.date()} existed at the date and is pinned"))
        return found

    def _committed(self, repo: str, commit: str, url: str) -> datetime:
        out = self._run(["-C", repo, "log", "-1", "--format=%cI", commit],
                        what=f"log {url}").strip()
        return datetime.fromisoformat(out)

    def _last_before(self, repo: str, commit: str, cutoff: datetime
                     ) -> tuple[str, datetime] | None:
        """The last commit on or before `cutoff` of `commit`'s own line (first parents)."""
        out = self._run(["-C", repo, "rev-list", "-1", "--first-parent",
                         f"--before={cutoff.isoformat()}", "--format=%cI", commit],
                        what="rev-list")
        lines = [line for line in out.splitlines() if line.strip()]
        # `--format` prints "commit <sha>" then the formatted line.
        if len(lines) < 2 or not lines[0].startswith("commit "):
            return None
        return lines[0].split()[1], datetime.fromisoformat(lines[1].strip())

    def _fetch(self, url: str, ref: str) -> str:
        """A bare repository with `ref`'s commits (no trees or blobs); a plain name is a
        branch."""
        if not ref.startswith("refs/"):
            ref = f"refs/heads/{ref}"
        key = (url, ref)
        if key in self._fetched:
            return self._fetched[key]
        if self._workdir is None:
            self._workdir = tempfile.mkdtemp(prefix="carpenter-git-")
        repo = os.path.join(self._workdir, f"r{len(self._fetched)}.git")
        self._run(["init", "-q", "--bare", repo], what="git init")
        self._run(["-C", repo, "fetch", "-q", "--no-tags", "--filter=tree:0", url,
                   f"+{ref}:{ref}"], what=f"fetch {url}")
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
