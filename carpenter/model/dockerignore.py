""".dockerignore matching exactly as Docker does it (moby/patternmatcher).

Rules reproduced from the reference implementation:
- one pattern per line; lines starting with `#` are comments; surrounding whitespace is trimmed;
- a leading `!` makes an exception (re-include); patterns are evaluated in order and the last
  matching one wins;
- patterns are cleaned like Go's `filepath.Clean` and a leading `/` is dropped (patterns are
  always relative to the context root);
- `*` matches within one path segment, `?` one character, `[...]` a class, `**` any number of
  segments (`**` at the end matches everything below);
- a pattern also matches a path whose leading segments match it (`foo` excludes `foo/bar`);
- the Dockerfile and the `.dockerignore` file itself are always sent to the builder even when a
  pattern excludes them (the CLI appends `!Dockerfile` and `!.dockerignore`).
BuildKit also reads `<Dockerfile name>.dockerignore` next to the Dockerfile in preference to the
context's `.dockerignore`.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from functools import lru_cache

from carpenter.core.errors import InputError


@dataclass(frozen=True, slots=True)
class IgnorePattern:
    text: str  # the line as written (trimmed)
    cleaned: str  # cleaned, without `!` and leading `/`
    exclusion: bool  # `!pattern`: re-include
    line: int
    kind: str = field(default="exact", compare=False)  # exact | prefix | suffix | regex
    regex: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    @property
    def dirs(self) -> int:
        return len(self.cleaned.split("/"))

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.cleaned
        if self.kind == "prefix":  # `foo/**`: everything starting with `foo/`
            return path.startswith(self.cleaned[:-2])
        if self.kind == "suffix":  # `**/foo`: any path ending in `/foo`, or `foo` itself
            suffix = self.cleaned[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.regex is not None and self.regex.match(path) is not None


def clean_path(path: str) -> str:
    """Go's filepath.Clean for slash-separated paths ("" -> ".")."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):  # posixpath keeps a leading "//"; Go does not
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


# Regex metacharacters that mean nothing in a Go filepath pattern and are escaped.
_ESCAPE = frozenset(".+()|{}$")


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> tuple[str, re.Pattern[str] | None]:
    """(kind, regex) for one cleaned pattern, mirroring Docker's own classification.

    A pattern without wildcards is an exact match, `x/**` a prefix match, `**/x` a suffix
    match; anything else becomes a regular expression in which `[`/`]` classes pass through.
    """
    out = ["^"]
    kind = "exact"
    i, n = 0, len(pattern)
    first = True
    while i < n:
        char = pattern[i]
        i += 1
        if char == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1  # `**/` behaves like `**`
                if i >= n:
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        out.append(".*")
                        kind = "regex"
                else:
                    out.append("(.*/)?")  # any number of segments, even none
                    kind = "regex"
                if first:
                    kind = "suffix"
            else:
                out.append("[^/]*")
                kind = "regex"
        elif char == "?":
            out.append("[^/]")
            kind = "regex"
        elif char in _ESCAPE:
            out.append("\\" + char)
        elif char == "\\":
            if i < n:
                out.append("\\" + pattern[i])
                i += 1
                kind = "regex"
            else:
                out.append("\\\\")
        elif char in "[]":
            out.append(char)
            kind = "regex"
        else:
            out.append(char)
        first = False
    if kind != "regex":
        return kind, None
    try:
        return kind, re.compile("".join(out) + "$")
    except re.error:  # Docker rejects the pattern; treat it as matching nothing
        return kind, re.compile(r"(?!)")


def parse_patterns(text: str, path: str = ".dockerignore") -> list[IgnorePattern]:
    """Patterns of an ignore file, read the way the Docker CLI and BuildKit read them."""
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
        cleaned = clean_path(body)
        if len(cleaned) > 1 and cleaned.startswith("/"):
            cleaned = cleaned[1:]
        kind, regex = compile_pattern(cleaned)
        patterns.append(IgnorePattern(line, cleaned, exclusion, number, kind, regex))
    return patterns


@dataclass
class DockerIgnore:
    patterns: list[IgnorePattern] = field(default_factory=list)
    path: str | None = None  # the ignore file used, if any
    always_sent: frozenset[str] = frozenset()  # Dockerfile and .dockerignore (context-relative)
    _memo: dict[str, tuple[bool, ...]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def has_exceptions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def matching_pattern(self, rel_path: str) -> IgnorePattern | None:
        """The pattern that decides `rel_path` is excluded, or None when it is sent."""
        rel = clean_path(rel_path.replace(os.sep, "/")).lstrip("/")
        if rel in self.always_sent or rel == "." or not self.patterns:
            return None
        inherited = self._folder_hits(posixpath.dirname(rel))
        matched = False
        decider: IgnorePattern | None = None
        for pattern, from_parent in zip(self.patterns, inherited, strict=True):
            if pattern.exclusion != matched:
                continue  # cannot change the outcome
            # A pattern matching any parent folder matches everything inside it.
            if from_parent or pattern.match(rel):
                matched = not pattern.exclusion
                decider = pattern if matched else None
        return decider if matched else None

    def _folder_hits(self, folder: str) -> tuple[bool, ...]:
        """Per pattern: does it match `folder` or a folder above it (memoised per folder)."""
        if not folder:
            return (False,) * len(self.patterns)
        cached = self._memo.get(folder)
        if cached is None:
            above = self._folder_hits(posixpath.dirname(folder))
            cached = tuple(hit or p.match(folder) for hit, p in zip(above, self.patterns,
                                                                     strict=True))
            self._memo[folder] = cached
        return cached

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
