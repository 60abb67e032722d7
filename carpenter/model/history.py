"""Secrets in a repository's git history: every line ever added, in one `git log -p` stream.

A token committed and later deleted is still in every clone. The scan reads the history once
per repository (oldest commit first, so each secret is reported with the commit that introduced
it), runs Carpenter's regex detector on the lines each commit added to each file, and stops at
a commit or byte cap (reported as truncated). One git subprocess, never one per file or commit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import field

from carpenter.core.lazyre import lazy_compile
from carpenter.core.records import record

MAX_COMMITS = 5000
MAX_BYTES = 256 * 1024 * 1024  # of diff text
MAX_LINE = 4096  # longer added lines (minified data) are cut before matching

_HUNK = lazy_compile(rb"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@record(frozen=True, slots=True)
class HistorySecret:
    commit: str
    date: int  # committer timestamp
    subject: str
    path: str  # repository-relative
    line: int  # line in that commit's version of the file
    kind: str
    title: str
    value: str  # memory only
    prefix: str
    variable: str


@record
class HistoryScan:
    secrets: list[HistorySecret] = field(default_factory=list)  # first appearance of each value
    commits: int = 0
    file_changes: int = 0  # (commit, file) diffs read
    added_lines: int = 0
    bytes: int = 0
    seconds: float = 0.0
    truncated: bool = False
    # A shallow clone (`git clone --depth N`, the CI default): older commits are not there to
    # read, so a token deleted before the cut cannot be seen.
    shallow: bool = False
    error: str | None = None


Detector = Callable[[str], list]  # text -> hits with start/end/value/kind/title/prefix/variable

_CACHE: dict[tuple[str, str | None], HistoryScan] = {}


def scan_history(
    repo_dir: str, *, max_commits: int = MAX_COMMITS, max_bytes: int = MAX_BYTES,
    detector: Detector | None = None,
) -> HistoryScan:
    """Secrets added anywhere in the history of the repository holding `repo_dir` (cached)."""
    from carpenter.model.context import find_repository

    repo = find_repository(repo_dir)
    if repo is None:
        return HistoryScan(error="not a git repository")
    head = _head_stamp(repo)
    key = (str(repo.working_tree_dir), head)
    if detector is None and key in _CACHE:
        return _CACHE[key]
    if head is None:
        return HistoryScan()
    if detector is None:
        from carpenter.core.shapes import find_secrets_in_file_text

        detector = find_secrets_in_file_text
    result = _scan(repo, max_commits, max_bytes, detector)
    result.shallow = _is_shallow(repo)
    _CACHE[key] = result
    return result


def _is_shallow(repo) -> bool:
    import os

    # git keeps the cut commits in `shallow` (in the common dir for worktrees).
    dirs = {str(repo.git_dir), str(getattr(repo, "common_dir", repo.git_dir))}
    return any(os.path.isfile(os.path.join(d, "shallow")) for d in dirs)


def _head_stamp(repo) -> str | None:
    """What identifies the history: HEAD and the refs, read as files (no git process)."""
    import os

    git_dir = str(repo.git_dir)
    # A linked worktree (`git worktree add`) keeps HEAD in .git/worktrees/<name> and the
    # branches, packed-refs and refs/ in the common .git: look in both, its own first.
    folders = list(dict.fromkeys((git_dir, str(getattr(repo, "common_dir", None) or git_dir))))
    parts = []
    try:
        with open(os.path.join(git_dir, "HEAD"), encoding="utf-8",
                  errors="surrogateescape") as handle:  # a damaged HEAD is not a crash
            head = handle.read(4096).strip()
        parts.append(head)
        for name in ("packed-refs", head.removeprefix("ref: ") if head.startswith("ref:") else ""):
            path = next((os.path.join(d, name) for d in folders
                         if name and os.path.isfile(os.path.join(d, name))), "")
            if path:
                stat = os.stat(path)
                parts.append(f"{name}:{stat.st_mtime_ns}:{stat.st_size}")
        parts.append(":".join(str(os.stat(os.path.join(d, "refs")).st_mtime_ns) for d in folders
                              if os.path.isdir(os.path.join(d, "refs"))))
    except OSError:
        return None
    if head.startswith("ref:") and len(parts) == 2:
        return None  # an unborn branch: no commit yet
    return "|".join(parts)


def _scan(repo, max_commits: int, max_bytes: int, detector: Detector) -> HistoryScan:
    import git

    started = time.perf_counter()
    result = HistoryScan()
    seen: set[str] = set()
    try:
        proc = repo.git.log(
            "--all", "--reverse", f"--max-count={max_commits}", "-p", "--unified=0",
            "--no-color", "--no-renames", "--no-ext-diff", "--no-textconv", "--diff-filter=AM",
            "--format=%x00%H %ct %s", as_process=True,
        )
    except git.GitCommandError as exc:
        result.error = str(exc).splitlines()[0]
        return result
    state = _Stream(result, seen, detector)
    try:
        for raw in proc.stdout:
            result.bytes += len(raw)
            if result.bytes > max_bytes:
                result.truncated = True
                break
            state.feed(raw)
        state.flush()
    finally:
        proc.stdout.close()
        try:
            proc.proc.kill()
            proc.proc.wait()
        except (OSError, AttributeError):
            pass
    if result.commits >= max_commits and _more_commits(repo, max_commits):
        result.truncated = True
    result.seconds = time.perf_counter() - started
    return result


def _more_commits(repo, limit: int) -> bool:
    try:
        return int(repo.git.rev_list("--all", "--count")) > limit
    except Exception:
        return False


class _Stream:
    """Parses `git log -p --unified=0` output line by line."""

    def __init__(self, result: HistoryScan, seen: set[str], detector: Detector) -> None:
        self.result = result
        self.seen = seen
        self.detector = detector
        self.commit = ""
        self.date = 0
        self.subject = ""
        self.path: str | None = None
        self.binary = False
        self.lines: list[str] = []  # added lines of the current file diff
        self.numbers: list[int] = []
        self.next_line = 0

    def feed(self, raw: bytes) -> None:
        first = raw[:1]
        if first == b"+":  # by far the most frequent line: test it first
            if raw.startswith(b"+++ "):
                target = raw[4:].decode("utf-8", "replace").rstrip("\n")
                self.path = None if target == "/dev/null" else target.removeprefix("b/")
            elif self.path is not None and not self.binary:
                self.lines.append(raw[1:MAX_LINE + 1].decode("utf-8", "replace").rstrip("\n"))
                self.numbers.append(self.next_line)
                self.next_line += 1
                self.result.added_lines += 1
        elif first == b"@":
            match = _HUNK.match(raw)
            self.next_line = int(match.group(1)) if match else 0
        elif first == b"d" and raw.startswith(b"diff --git "):
            self.flush()
            self.path = None
            self.binary = False
            self.result.file_changes += 1
        elif first == b"\x00":
            self.flush()
            head = raw[1:].decode("utf-8", "replace").rstrip("\n")
            sha, _, rest = head.partition(" ")
            stamp, _, subject = rest.partition(" ")
            self.commit, self.subject = sha, subject
            self.date = int(stamp) if stamp.isdigit() else 0
            self.result.commits += 1
            self.path = None
        elif first == b"B" and raw.startswith(b"Binary files "):
            self.binary = True

    def flush(self) -> None:
        if not self.lines or self.path is None:
            self.lines, self.numbers = [], []
            return
        text = "\n".join(self.lines)
        starts = []
        pos = 0
        for line in self.lines:
            starts.append(pos)
            pos += len(line) + 1
        import bisect

        for hit in self.detector(text):
            key = f"{self.path}\0{hit.value}"  # first appearance per file
            if key in self.seen:
                continue
            self.seen.add(key)
            index = bisect.bisect_right(starts, hit.start) - 1
            self.result.secrets.append(HistorySecret(
                self.commit, self.date, self.subject, self.path, self.numbers[index], hit.kind,
                hit.title, hit.value, hit.prefix, hit.variable))
        self.lines, self.numbers = [], []


def clear_cache() -> None:
    _CACHE.clear()
