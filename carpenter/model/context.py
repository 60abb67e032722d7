"""The build context: what `docker build` would send, and how it differs from a fresh clone.

`BuildContext.load(context_dir, dockerfile)` lists the context once (capped: a huge context is
walked up to MAX_ENTRIES entries and reported as truncated, never read whole), applies
`.dockerignore` with Docker's semantics, resolves COPY/ADD sources with Docker's glob rules and,
when the context lies in a git repository, asks git (three `ls-files` calls per repository, never
one per file) which paths are tracked, untracked or ignored and where submodules sit.
Everything is cached per context folder, so many Dockerfiles sharing one context cost one walk.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import field
from functools import cached_property

from carpenter.core.errors import InputError
from carpenter.core.lazyre import lazy_compile
from carpenter.core.records import record
from carpenter.model.dockerfile import Dockerfile, Instruction
from carpenter.model.dockerignore import DockerIgnore, IgnorePattern, clean_path, load_dockerignore
from carpenter.model.variables import expand

MAX_ENTRIES = 100_000  # entries listed per context before the walk stops
LFS_HEADER = b"version https://git-lfs.github.com/spec/v"
LFS_MAX_SIZE = 1024  # pointer files are ~130 bytes
_GLOB_CHARS = lazy_compile(r"[*?\[\\]")
_URL = lazy_compile(r"^[a-z][a-z0-9+.\-]*://", re.IGNORECASE)
_GIT_URL = lazy_compile(r"^(?:git@|git://|[a-z+]+://[^ ]*\.git(?:[#?].*)?$)", re.IGNORECASE)


@record(eq=False, slots=True)
class Entry:
    """A file, folder or link of the build context."""

    rel: str  # context-relative, slash-separated
    kind: str  # file | dir | symlink | other
    size: int = 0
    target: str | None = None  # what a symlink points to (as written)
    outside: bool = False  # a symlink whose target resolves outside the context


@record(eq=False, slots=True)
class Submodule:
    """A git submodule of the build context, and whether it is checked out."""

    rel: str  # context-relative
    url: str | None
    initialised: bool  # the folder has content here (a fresh clone would still be empty)


@record(eq=False)
class RepoListing:
    """What git says about a whole working tree (one set of `ls-files` calls per repository)."""

    top: str
    tracked: set[str]  # repository-relative files
    tracked_dirs: set[str]
    untracked: set[str]  # folders end with "/"
    ignored: set[str]
    gitlinks: list[str]  # submodule paths
    urls: dict[str, str]  # submodule path -> url (.gitmodules)


@record(eq=False)
class GitState:
    """The repository listing seen from one build context (paths are context-relative)."""

    top: str  # repository working tree
    prefix: str  # the context folder relative to `top` ("" at the root)
    listing: RepoListing = field(repr=False)
    submodules: dict[str, Submodule] = field(default_factory=dict)  # context-relative

    def _repo(self, rel: str) -> str:
        rel = rel.strip("/")
        if rel in ("", "."):
            return self.prefix
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def status(self, rel: str) -> str | None:
        """tracked | ignored | untracked for a context-relative path, None if git knows nothing."""
        path = self._repo(rel)
        listing = self.listing
        if path in listing.tracked or path in listing.tracked_dirs or path in listing.gitlinks:
            return "tracked"
        if path == "":
            return "tracked" if listing.tracked else None
        parts = path.split("/")
        for state, entries in (("ignored", listing.ignored), ("untracked", listing.untracked)):
            if path in entries or path + "/" in entries:
                return state
            for k in range(1, len(parts)):
                if "/".join(parts[:k]) + "/" in entries:
                    return state
        return None

    def submodule_for(self, rel: str) -> Submodule | None:
        rel = rel.strip("/")
        for path, sub in self.submodules.items():
            if rel == path or rel.startswith(path + "/"):
                return sub
        return None


@record(eq=False)
class CopySource:
    """One source of a COPY/ADD that reads the build context."""

    inst: Instruction
    text: str  # as written
    expanded: str  # after ARG/ENV expansion
    offset: int  # file offsets of the source word
    end_offset: int
    pattern: str  # context-relative, cleaned ("." for the whole context)
    matches: list[str] = field(default_factory=list)  # existing context-relative paths
    missing_vars: frozenset[str] = frozenset()
    escapes: bool = False  # `../x`: outside the context

    @property
    def is_glob(self) -> bool:
        return _GLOB_CHARS.search(self.pattern) is not None


class BuildContext:
    """The files a build of one Dockerfile can see."""

    def __init__(self, root: str, dockerfile_rel: str | None, ignore: DockerIgnore,
                 ignore_error: InputError | None = None, real_root: str | None = None) -> None:
        self.root = root
        self.real_root = real_root if real_root is not None else os.path.realpath(root)
        self.dockerfile_rel = dockerfile_rel
        self.ignore = ignore
        self.ignore_error = ignore_error
        self.entries: dict[str, Entry] = {}
        self.truncated = False
        self.errors: list[str] = []
        self._copy_sources: dict[int, list[CopySource]] = {}
        self.facts: dict[str, object] = {}  # per-context results of expensive checks

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def load(
        cls, context_dir: str | None, dockerfile: Dockerfile | None = None
    ) -> BuildContext | None:
        """The context of `dockerfile` (cached per folder and ignore file); None without one."""
        if context_dir is None or not os.path.isdir(context_dir):
            return None
        root = os.path.abspath(context_dir)
        real_root = os.path.realpath(root) if dockerfile else None  # resolved once, used twice
        dockerfile_rel = _relative_inside(real_root, dockerfile.path) if dockerfile else None
        key = (root, dockerfile_rel, _ignore_stamp(root, dockerfile_rel))
        cached = _CONTEXTS.get(key)
        if cached is not None:
            return cached
        try:
            ignore = load_dockerignore(root, dockerfile_rel)
            costly = ignore.problems
            # A pattern too costly to match is reported where it is written (CTX010).
            error = InputError(costly[0].problem or "", path=ignore.path,
                               line=costly[0].line) if costly else None
        except InputError as exc:
            ignore, error = DockerIgnore([], None, frozenset({".dockerignore"})), exc
        context = cls(root, dockerfile_rel, ignore, error, real_root)
        context._walk()
        _CONTEXTS[key] = context
        return context

    def _walk(self) -> None:
        """List the context; folders the ignore file excludes for good are not descended into."""
        prune = not self.ignore.has_exceptions
        stack = [""]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(os.path.join(self.root, folder)) as items:
                    listing = sorted(items, key=lambda item: item.name)
            except OSError as exc:
                self.errors.append(f"{folder or '.'}: {exc.strerror or exc}")
                continue
            for item in listing:
                if len(self.entries) >= MAX_ENTRIES:
                    self.truncated = True
                    return
                rel = f"{folder}/{item.name}" if folder else item.name
                entry = self._entry(item, rel)
                self.entries[rel] = entry
                if entry.kind != "dir" or item.name == ".git":
                    continue  # git internals are read through git, not walked
                if prune and self.ignore.excludes(rel):
                    continue
                stack.append(rel)

    def _entry(self, item: os.DirEntry, rel: str) -> Entry:
        try:
            if item.is_symlink():
                target = os.readlink(item.path)
                return Entry(rel, "symlink", 0, target, not self._resolves_inside(item.path))
            if item.is_dir(follow_symlinks=False):
                return Entry(rel, "dir")
            if item.is_file(follow_symlinks=False):
                return Entry(rel, "file", item.stat(follow_symlinks=False).st_size)
        except OSError:
            pass
        return Entry(rel, "other")

    def _resolves_inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == self.real_root or real.startswith(self.real_root + os.sep)

    # -- queries -----------------------------------------------------------------------------
    def display(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel not in ("", ".") else self.root

    def fs_path(self, rel: str) -> str:
        return os.path.join(self.root, *[p for p in rel.split("/") if p not in ("", ".")])

    def exists(self, rel: str) -> bool:
        return os.path.lexists(self.fs_path(rel))

    def excluded_by(self, rel: str) -> IgnorePattern | None:
        return self.ignore.matching_pattern(rel)

    def files_under(self, rel: str) -> list[str]:
        """Listed files and symlinks at or below a context-relative path."""
        rel = rel.strip("/")
        if rel in ("", "."):
            return [e.rel for e in self.entries.values() if e.kind in ("file", "symlink")]
        prefix = rel + "/"
        return [e.rel for e in self.entries.values()
                if e.kind in ("file", "symlink") and (e.rel == rel or e.rel.startswith(prefix))]

    def sent_files(self) -> list[str]:
        """Listed regular files that the ignore rules let through (what the builder receives)."""
        return [e.rel for e in self.entries.values()
                if e.kind == "file" and not self.ignore.excludes(e.rel)]

    def is_lfs_pointer(self, rel: str) -> bool:
        entry = self.entries.get(rel)
        if entry is not None and (entry.kind != "file" or not
                                  len(LFS_HEADER) <= entry.size <= LFS_MAX_SIZE):
            return False  # decided from the listing, no file opened
        size = entry.size if entry is not None else None
        path = self.fs_path(rel)
        try:
            if size is None:
                if not os.path.isfile(path):
                    return False
                size = os.path.getsize(path)
            if size > LFS_MAX_SIZE or size < len(LFS_HEADER):
                return False
            with open(path, "rb") as handle:
                return handle.read(len(LFS_HEADER)) == LFS_HEADER
        except OSError:
            return False

    def glob(self, pattern: str) -> list[str]:
        """Context-relative paths a COPY source matches (Go filepath.Match per segment)."""
        pattern = clean_path(pattern.lstrip("/")) if pattern not in ("", "/") else "."
        if pattern == ".":
            return ["."]
        if not _GLOB_CHARS.search(pattern):
            return [pattern] if self.exists(pattern) else []
        return _glob_segments(self.root, pattern.split("/"))

    @cached_property
    def git(self) -> GitState | None:
        return git_state(self.root)

    # -- COPY / ADD --------------------------------------------------------------------------
    def copy_sources(self, dockerfile: Dockerfile) -> list[CopySource]:
        """Every context source of every COPY/ADD in the Dockerfile, with what it matches."""
        key = id(dockerfile)
        if key not in self._copy_sources:
            found: list[CopySource] = []
            for inst in dockerfile.instructions:
                found.extend(self._sources_of(inst, dockerfile))
            self._copy_sources[key] = found
        return self._copy_sources[key]

    def _sources_of(self, inst: Instruction, dockerfile: Dockerfile) -> list[CopySource]:
        if inst.keyword not in ("COPY", "ADD") or inst.heredocs or inst.flags.get("from"):
            return []
        words = source_words(inst)
        out = []
        for text, start, end in words:
            if inst.keyword == "ADD" and (_URL.match(text) or _GIT_URL.match(text)):
                continue
            expanded, missing = expand(text, inst.vars) if "$" in text else (text, set())
            source = CopySource(inst, text, expanded, start, end, ".", [], frozenset(missing))
            if missing:
                out.append(source)
                continue
            cleaned = clean_path(expanded.replace("\\", "/") if os.name == "nt" else expanded)
            relative = cleaned.lstrip("/") or "."
            if relative == ".." or relative.startswith("../"):
                source.escapes = True
            source.pattern = clean_path(relative)
            source.matches = [] if source.escapes else self.glob(source.pattern)
            out.append(source)
        return out

    def copied_paths(self, dockerfile: Dockerfile) -> set[str]:
        """Context-relative paths some COPY/ADD copies (folders stand for everything below)."""
        paths: set[str] = set()
        for source in self.copy_sources(dockerfile):
            paths.update(source.matches)
        return paths

    def is_copied(self, rel: str, dockerfile: Dockerfile) -> bool:
        copied = self.copied_paths(dockerfile)
        if "." in copied or rel in copied:
            return True
        parts = rel.split("/")
        return any("/".join(parts[:k]) in copied for k in range(1, len(parts)))


def source_words(inst: Instruction) -> list[tuple[str, int, int]]:
    """The source words of a COPY/ADD (all but the destination) with their file offsets."""
    if inst.json_args is not None:
        words = []
        search = 0
        for item in inst.json_args:
            import json

            encoded = json.dumps(item)
            at = inst.args.find(encoded, search)
            if at < 0:
                at = inst.args.find(item, search)
                encoded = item
            start = inst.args_offset + max(at, 0)
            words.append((item, start, start + len(encoded)))
            search = max(at, 0) + len(encoded)
        return words[:-1]
    tokens = inst.tokens
    return [(t.text, t.offset, t.end_offset) for t in tokens[:-1]]


# ---------------------------------------------------------------------------------------------
# Glob (Docker COPY semantics: Go's filepath.Match, `*` never crosses `/`, dotfiles included)


def _segment_regex(segment: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i + 1 < len(segment):
            i += 1
            out.append(re.escape(segment[i]))
        elif char == "[":
            end = segment.find("]", i + 2)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = segment[i + 1:end]
                if body.startswith("^"):
                    body = "^" + body[1:].replace("\\", "\\\\")
                else:
                    body = body.replace("\\", "\\\\")
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def _glob_segments(root: str, segments: list[str]) -> list[str]:
    found = [""]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        next_found = []
        for base in found:
            folder = os.path.join(root, base) if base else root
            if not _GLOB_CHARS.search(segment):
                candidate = f"{base}/{segment}" if base else segment
                if os.path.lexists(os.path.join(root, candidate)):
                    next_found.append(candidate)
                continue
            regex = _segment_regex(segment)
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                continue
            for name in names:
                if regex.match(name):
                    candidate = f"{base}/{name}" if base else name
                    if last or os.path.isdir(os.path.join(root, candidate)):
                        next_found.append(candidate)
        found = next_found
        if not found:
            break
    return found


# ---------------------------------------------------------------------------------------------
# git (gitpython; three ls-files calls per repository)

_GIT_CACHE: dict[str, GitState | None] = {}
_LISTINGS: dict[str, RepoListing | None] = {}
_REPOS: dict[str, object] = {}
_CONTEXTS: dict[tuple, BuildContext] = {}


def clear_caches() -> None:
    _GIT_CACHE.clear()
    _LISTINGS.clear()
    _REPOS.clear()
    _CONTEXTS.clear()


def repository_top(path: str) -> str | None:
    """The working tree holding `path` (a `.git` folder or file above it), without git."""
    folder = os.path.realpath(path)
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def git_state(root: str) -> GitState | None:
    root = os.path.abspath(root)
    if root not in _GIT_CACHE:
        _GIT_CACHE[root] = _read_git_state(root)
    return _GIT_CACHE[root]


def find_repository(path: str):
    """The gitpython Repo holding `path` (one per working tree), or None."""
    top = repository_top(path)
    if top is None:
        return None
    if top in _REPOS:
        return _REPOS[top]
    try:
        import git
    except ImportError:  # gitpython missing, or no git executable
        return None
    try:
        repo = git.Repo(top)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError, OSError):
        repo = None
    if repo is not None and (repo.bare or not repo.working_tree_dir):
        repo = None
    _REPOS[top] = repo
    return repo


def _read_git_state(root: str) -> GitState | None:
    repo = find_repository(root)
    if repo is None:
        return None
    top = os.path.realpath(str(repo.working_tree_dir))
    listing = _listing(repo, top)
    if listing is None:
        return None
    prefix = os.path.relpath(os.path.realpath(root), top).replace(os.sep, "/")
    prefix = "" if prefix == "." else prefix
    if prefix.startswith(".."):
        return None
    submodules = {}
    for path in listing.gitlinks:
        if prefix and not path.startswith(prefix + "/"):
            continue
        rel = path[len(prefix) + 1:] if prefix else path
        folder = os.path.join(top, path)
        try:
            initialised = os.path.isdir(folder) and bool(os.listdir(folder))
        except OSError:
            initialised = False
        submodules[rel] = Submodule(rel, listing.urls.get(path), initialised)
    return GitState(top, prefix, listing, submodules)


def _listing(repo, top: str) -> RepoListing | None:
    """Three `ls-files` calls for the whole working tree, cached per repository."""
    if top in _LISTINGS:
        return _LISTINGS[top]
    import git

    try:
        staged = repo.git.ls_files("-s", "-z")
        others = repo.git.ls_files("-o", "--exclude-standard", "--directory", "-z")
        ignored = repo.git.ls_files("-o", "-i", "--exclude-standard", "--directory", "-z")
    except (git.GitCommandError, ValueError, OSError):
        _LISTINGS[top] = None
        return None
    tracked: set[str] = set()
    tracked_dirs: set[str] = set()
    gitlinks: list[str] = []
    for entry in filter(None, staged.split("\0")):
        meta, _, path = entry.partition("\t")
        if meta.startswith("160000"):
            gitlinks.append(path)
            continue
        tracked.add(path)
        parts = path.split("/")
        for k in range(1, len(parts)):
            tracked_dirs.add("/".join(parts[:k]))
    listing = RepoListing(top, tracked, tracked_dirs, set(filter(None, others.split("\0"))),
                          set(filter(None, ignored.split("\0"))), gitlinks, _submodule_urls(top))
    _LISTINGS[top] = listing
    return listing


def _submodule_urls(top: str) -> dict[str, str]:
    """path -> url from .gitmodules (read as text: one small file)."""
    try:
        with open(os.path.join(top, ".gitmodules"), encoding="utf-8", errors="replace") as handle:
            text = handle.read(256 * 1024)
    except OSError:
        return {}
    urls: dict[str, str] = {}
    for block in re.split(r"(?m)^\s*\[submodule\b", text)[1:]:
        path = re.search(r"(?m)^\s*path\s*=\s*(.+?)\s*$", block)
        url = re.search(r"(?m)^\s*url\s*=\s*(.+?)\s*$", block)
        if path:
            urls[path.group(1)] = url.group(1) if url else ""
    return urls


# ---------------------------------------------------------------------------------------------
# helpers


def _relative_inside(real_root: str, path: str) -> str | None:
    """`path` relative to the already resolved `real_root` if it lies inside, else None."""
    real = os.path.realpath(path)
    if real == real_root or not real.startswith(real_root + os.sep):
        return None
    return os.path.relpath(real, real_root).replace(os.sep, "/")


def _ignore_stamp(root: str, dockerfile_rel: str | None) -> tuple:
    stamps = []
    names = [".dockerignore"] + ([dockerfile_rel + ".dockerignore"] if dockerfile_rel else [])
    for name in names:
        try:
            stat = os.stat(os.path.join(root, name))
            stamps.append((name, stat.st_mtime_ns, stat.st_size))
        except OSError:
            stamps.append((name, None, None))
    with contextlib.suppress(OSError):
        stamps.append(("", os.stat(root).st_mtime_ns, 0))
    return tuple(stamps)


def candidate_contexts(context: BuildContext, dockerfile_path: str) -> list[str]:
    """Other folders a user might have meant as the context: the Dockerfile's own folder and
    up to two folders above the context, never above the repository root. (Further up, an
    unrelated `*.yaml` would "resolve" a wildcard by accident.)"""
    found: list[str] = []
    top = context.git.top if context.git else None
    folder = context.real_root
    for _ in range(2):
        if top is not None and folder == top:
            break
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
        found.append(folder)
    own = os.path.realpath(os.path.dirname(os.path.abspath(dockerfile_path)))
    if own != context.real_root and own not in found:
        found.insert(0, own)
    return found


def glob_in(root: str, pattern: str) -> list[str]:
    """Docker glob of a context-relative pattern under another folder."""
    pattern = clean_path(pattern.lstrip("/"))
    if not _GLOB_CHARS.search(pattern):
        return [pattern] if os.path.lexists(os.path.join(root, pattern)) else []
    return _glob_segments(root, pattern.split("/"))


__all__ = [
    "BuildContext", "CopySource", "Entry", "GitState", "RepoListing", "Submodule",
    "candidate_contexts", "clear_caches", "find_repository", "git_state", "glob_in",
    "repository_top", "source_words",
]


# ---------------------------------------------------------------------------------------------
# Why a COPY source is missing

# Folders that exist on a developer's machine, not in a build context or a fresh clone.
HOST_PATH = lazy_compile(
    r"^(?:/home/[^/\s]+|/Users/[^/\s]+|/mnt/|/media/|/data/|/scratch/|/nfs/|/gpfs/|/lustre/"
    r"|/storage/|/datasets?/|/root/|/tmp/|/private/|/Volumes/|~/|~[A-Za-z]|[A-Za-z]:[\\/]"
    r"|\\\\[^\\]+\\)"
)


@record(eq=False, slots=True)
class Missing:
    """Why a COPY source matched nothing."""

    reason: str  # missing | host-path | other-context | outside | unresolved
    other_context: str | None = None  # a folder where the source resolves


def classify_missing(context: BuildContext, source: CopySource, dockerfile_path: str) -> Missing:
    """Why a source matched nothing: a host path, another context, or plainly absent."""
    if source.missing_vars:
        return Missing("unresolved")
    if HOST_PATH.match(source.expanded):
        return Missing("host-path")
    for folder in candidate_contexts(context, dockerfile_path):
        base = source.expanded.lstrip("/")
        if source.escapes:
            base = os.path.normpath(os.path.join(context.real_root, source.expanded))
            base = os.path.relpath(base, folder).replace(os.sep, "/")
            if base.startswith(".."):
                continue
        if glob_in(folder, base):
            return Missing("other-context", folder)
    return Missing("outside" if source.escapes else "missing")
