""".dockerignore matching as the docker SDK (docker.utils.build, which `rebuild` uses) does it.

Rules of docker.utils.build (matching goes through the SDK's own `fnmatch.translate`, except
for `*`-and-literal globs, matched segment by segment in linear time):
- one pattern per line; lines starting with `#` are comments; surrounding whitespace is trimmed;
- a leading `!` makes an exception (re-include); the last matching pattern wins;
- empty, `.` segments are dropped and `..` removes the segment before it (patterns are always
  relative to the context root); matching is case-insensitive, as in the SDK;
- `*` matches within one path segment, `?` one character, `[...]` a class, `**` any number of
  segments;
- a pattern of N segments also matches a path whose first N folders match it (`foo` excludes
  `foo/bar`);
- an excluded folder is not entered unless an exception pattern starts with its path;
- the Dockerfile and the `.dockerignore` file itself are always sent.
BuildKit also reads `<Dockerfile name>.dockerignore` next to the Dockerfile in preference to the
context's `.dockerignore`.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import field
from functools import lru_cache

from carpenter.core.detached import load_detached
from carpenter.core.errors import InputError
from carpenter.core.records import record


@record(eq=False, slots=True)
class IgnorePattern:
    """One line of a .dockerignore, normalised as the docker SDK reads it."""

    text: str  # the line as written (trimmed)
    cleaned: str  # as the docker SDK normalises it: `/`-joined segments, without `!`
    exclusion: bool  # `!pattern`: re-include
    line: int
    dirs: int = 0  # number of segments (the SDK matches parents cut to this many)
    problem: str | None = field(default=None, compare=False)  # set: the pattern matches nothing

    def match(self, path: str) -> bool:
        return self.problem is None and glob_match(path, self.cleaned)


def clean_path(path: str) -> str:
    """Go's filepath.Clean for slash-separated paths ("" -> ".")."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):  # posixpath keeps a leading "//"; Go does not
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def _segments(path: str) -> list[str]:
    """docker.utils.build's normalisation: drop empty and `.` segments, resolve `..`."""
    out: list[str] = []
    for part in path.strip().split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
            continue
        out.append(part)
    return out


# Patterns with more wildcards than this that are not plain `*`/literal globs would cost the
# backtracking regex engine exponential time (`*a*a*a...*b`); they are reported, not matched.
MAX_WILDCARDS = 12


def glob_match(path: str, pattern: str) -> bool:
    """docker.utils.fnmatch semantics (case-insensitive; `*` and `?` stop at `/`; `**` spans
    folders) in time linear in the input for the `*`-and-literal patterns that dominate."""
    path, pattern = path.lower(), pattern.lower()
    if "**" not in pattern and not any(c in pattern for c in "?[\\"):
        return _star_match(path, pattern)
    return _sdk_regex(pattern).match(path) is not None


def _star_match(path: str, pattern: str) -> bool:
    """Segment by segment: `*` never matches `/`, so segments pair up one to one; within a
    segment the literal pieces are found greedily left to right (exact for `*`-only globs)."""
    names = path.split("/")
    globs = pattern.split("/")
    if len(names) != len(globs):
        return False
    return all(_segment_match(name, glob) for name, glob in zip(names, globs, strict=True))


def _segment_match(name: str, glob: str) -> bool:
    pieces = glob.split("*")
    if len(pieces) == 1:
        return name == glob
    head, *middle, tail = pieces
    if len(name) < len(head) + len(tail) or not name.startswith(head) or \
            not name.endswith(tail):
        return False
    at, stop = len(head), len(name) - len(tail)
    for piece in middle:
        found = name.find(piece, at, stop)
        if found < 0:
            return False
        at = found + len(piece)
    return True


@lru_cache(maxsize=4096)
def _sdk_regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(_sdk_translate()(pattern))
    except re.error:
        return re.compile(r"(?!)")


@lru_cache(maxsize=1)
def _sdk_translate() -> Callable[[str], str]:
    """The docker SDK's own `docker.utils.fnmatch.translate`, run from its file alone
    (core.detached): `import docker` first imports requests, urllib3 and the whole client,
    tens of ms of a scan whose .dockerignore holds a `**` pattern."""
    module = load_detached("docker.utils.fnmatch")
    if module is None:  # not a plain file on disk: the ordinary import
        from docker.utils.fnmatch import translate

        return translate
    return module.translate  # type: ignore[no-any-return]


def _problem(cleaned: str) -> str | None:
    simple = "**" not in cleaned and not any(c in cleaned for c in "?[\\")
    wildcards = cleaned.count("*") + cleaned.count("?") + cleaned.count("[")
    if not simple and wildcards > MAX_WILDCARDS:
        return (f"pattern with {wildcards} wildcards mixing `**`, `?` or `[...]`: too costly "
                "to match, so Carpenter cannot tell which files it excludes")
    return None


def parse_patterns(text: str, path: str = ".dockerignore") -> list[IgnorePattern]:
    """Patterns of an ignore file, read the way the docker SDK (and the Docker CLI) read them."""
    patterns: list[IgnorePattern] = []
    text = text.removeprefix("\ufeff")
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.startswith("#"):  # only a `#` in the first column starts a comment
            continue
        line = raw.strip()
        if not line:
            continue
        exclusion = line.startswith("!")
        body = line[1:].strip() if exclusion else line
        if exclusion and not body:
            raise InputError('illegal exclusion pattern: "!"', path=path, line=number)
        segments = _segments(body)
        if not segments:
            continue  # `.` or `/`: the SDK drops patterns with no segment
        cleaned = "/".join(segments)
        patterns.append(IgnorePattern(line, cleaned, exclusion, number, len(segments),
                                      _problem(cleaned)))
    return patterns


@record(eq=False)
class DockerIgnore:
    """Which context files `docker build` leaves out, as docker.utils.build decides it: the
    last matching pattern wins; a pattern also matches a path whose first folders (as many as
    the pattern has segments) match it; and an excluded folder is not entered at all unless an
    exception pattern starts with its path (so `**/checkpoints` + `!**/final.pt` still leaves
    out `checkpoints/final.pt`)."""

    patterns: list[IgnorePattern] = field(default_factory=list)
    path: str | None = None  # the ignore file used, if any
    always_sent: frozenset[str] = frozenset()  # Dockerfile and .dockerignore (context-relative)
    _memo: dict[str, IgnorePattern | None] = field(default_factory=dict, repr=False,
                                                   compare=False)

    @property
    def has_exceptions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    @property
    def problems(self) -> list[IgnorePattern]:
        return [p for p in self.patterns if p.problem]

    def matching_pattern(self, rel_path: str) -> IgnorePattern | None:
        """The pattern that decides `rel_path` is excluded, or None when it is sent."""
        rel = "/".join(_segments(rel_path.replace(os.sep, "/")))
        if rel in self.always_sent or not rel or not self.patterns:
            return None
        parts = rel.split("/")
        for depth in range(1, len(parts)):  # a folder the build never enters hides its files
            folder = "/".join(parts[:depth])
            decider = self._decide(folder)
            if decider is not None and not self._entered(folder):
                return decider
        return self._decide(rel)

    def _decide(self, rel: str) -> IgnorePattern | None:
        if rel in self._memo:
            return self._memo[rel]
        parent = rel.rpartition("/")[0].split("/") if "/" in rel else []
        decider: IgnorePattern | None = None
        for pattern in self.patterns:
            hit = pattern.match(rel)
            if not hit and parent and pattern.dirs <= len(parent):
                hit = pattern.match("/".join(parent[:pattern.dirs]))
            if hit:
                decider = None if pattern.exclusion else pattern
        if len(self._memo) < 100_000:
            self._memo[rel] = decider
        return decider

    def _entered(self, folder: str) -> bool:
        """The SDK walks into an excluded folder only when an exception starts with its path
        (the Dockerfile and .dockerignore are such exceptions: the CLI appends them)."""
        return any(p.cleaned.startswith(folder) for p in self.patterns if p.exclusion) or any(
            sent.startswith(folder) for sent in self.always_sent)

    def excludes(self, rel_path: str) -> bool:
        return self.matching_pattern(rel_path) is not None


def load_dockerignore(context_dir: str, dockerfile_rel: str | None = None) -> DockerIgnore:
    """The ignore rules for a build of `dockerfile_rel` (context-relative, if inside) in a context.

    `<Dockerfile>.dockerignore` beside the Dockerfile wins over `<context>/.dockerignore`
    (BuildKit); the legacy builder reads only the latter.
    """
    candidates = []
    if dockerfile_rel:
        candidates.append(os.path.join(context_dir, dockerfile_rel + ".dockerignore"))
    candidates.append(os.path.join(context_dir, ".dockerignore"))
    always = {".dockerignore"}
    if dockerfile_rel:
        always.add(clean_path(dockerfile_rel))
    for candidate in candidates:
        if os.path.isfile(candidate):
            try:
                with open(candidate, encoding="utf-8", errors="replace") as handle:
                    text = handle.read(1024 * 1024)
            except OSError as exc:
                raise InputError(exc.strerror or str(exc), path=candidate) from None
            patterns = parse_patterns(text, candidate)
            return DockerIgnore(patterns, candidate, frozenset(always))
    return DockerIgnore([], None, frozenset(always))
