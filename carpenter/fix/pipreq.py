"""Pin one pip requirement in place, changing only its version specifier.

`transformers[torch]>=4.30 ; python_version < "3.11"` becomes
`transformers[torch]==4.34.1 ; python_version < "3.11"`: name, extras, marker, surrounding
quotes and whitespace are kept byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

_HEAD = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(\s*\[[^\]]*\])?")
# Characters that end an unquoted shell word.
_SHELL_STOP = set(" \t\n;&|()`")


@dataclass(frozen=True)
class Pinned:
    name: str  # canonical
    old_spec: str  # "" when unpinned
    text: str  # the new requirement text


def split_quotes(text: str) -> tuple[str, str, str]:
    """('"', inner, '"') for a quoted shell word, ('', text, '') otherwise."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[0], text[1:-1], text[0]
    return "", text, ""


@lru_cache(maxsize=8192)
def parse(text: str) -> Requirement | None:
    """Cached: the same requirement strings recur across files (Requirement is immutable
    in use here)."""
    try:
        return Requirement(split_quotes(text)[1].strip())
    except InvalidRequirement:
        return None


def is_pinned(req: Requirement) -> bool:
    """Only == (without wildcard) and === count as pinned; URLs are VCS/file concerns."""
    return req.url is not None or any(
        s.operator == "===" or (s.operator == "==" and not s.version.endswith(".*"))
        for s in req.specifier)


def pin_text(text: str, version: str) -> Pinned | None:
    """The requirement `text` (maybe quoted) pinned to `version`; None if not a plain
    name-based requirement."""
    open_q, inner, close_q = split_quotes(text)
    req = parse(inner)
    if req is None or req.url is not None:
        return None
    head = _HEAD.match(inner)
    if head is None:
        return None
    spec_start = head.end()
    marker_at = inner.find(";", spec_start)
    spec_end = marker_at if marker_at != -1 else len(inner)
    spec_region = inner[spec_start:spec_end]
    # Keep whitespace that separated the specifier from the marker.
    trailing = spec_region[len(spec_region.rstrip()):] if marker_at != -1 else ""
    new_inner = inner[:spec_start] + f"=={version}" + trailing + inner[spec_end:]
    return Pinned(canonicalize_name(req.name), spec_region.strip(),
                  open_q + new_inner + close_q)


def unquoted_word_end(text: str, start: int) -> int:
    """End of the shell word starting at `start`, counting an unquoted `torch>=2.0` as one
    word although the shell reads `>=2.0` as a redirect (that is the bug being fixed)."""
    pos = start
    quote = ""
    while pos < len(text):
        char = text[pos]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in _SHELL_STOP or (char == "\\" and text[pos + 1:pos + 2] in ("\n", "")):
            break
        pos += 1
    return pos


# -- requirements files --------------------------------------------------------------------

_OPTION_START = re.compile(r"\s+(?:-{1,2}[A-Za-z]|#)|\s*\\$")


def requirement_extent(line: str) -> tuple[int, int]:
    """[start, end) of the requirement in a requirements-file line: options (`--hash=...`),
    comments and a trailing continuation backslash are not part of it."""
    start = len(line) - len(line.lstrip())
    match = _OPTION_START.search(line, start)
    end = match.start() if match else len(line.rstrip())
    return start, end


def line_has_hashes(line: str) -> bool:
    return "--hash" in line
