"""ARG/ENV expansion the way the Dockerfile frontend does it ($VAR, ${VAR}, ${VAR:-x}, ...)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from carpenter.core.lazyre import lazy_compile

_VAR = lazy_compile(
    r"\\\$"  # escaped dollar
    r"|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-+])(?P<word>[^}]*))?\}"
    r"|\$(?P<plain>[A-Za-z_][A-Za-z0-9_]*)"
)


# A longer expansion is abuse, not a build setting: `ENV A=${A}${A}${A}` 18 times is 374 bytes
# that expand to 3**18 characters (4.5 GB). Docker would run out of memory; Carpenter stops here.
MAX_EXPANDED = 65_536


class _TooLarge(Exception):
    pass


def expand(text: str, variables: Mapping[str, str | None]) -> tuple[str, set[str]]:
    """Expand variables in `text`; return the result and the names that had no value.

    Unknown variables expand to "" as Docker does, but are reported so callers can tell a
    resolved reference from a guess. An expansion over MAX_EXPANDED characters is not done:
    the text comes back as written, its variables counted as missing (unresolved).
    """
    expanded, missing, _ = expand_bounded(text, variables)
    return expanded, missing


def expand_bounded(text: str, variables: Mapping[str, str | None],
                   ) -> tuple[str, set[str], bool]:
    """expand(), plus whether the result would have been over MAX_EXPANDED characters."""
    if "$" not in text:
        return text, set(), False
    try:
        return (*_expand(text, variables, [0]), False)
    except _TooLarge:
        names = {m.group("braced") or m.group("plain") for m in _VAR.finditer(text)}
        return text, {n for n in names if n}, True


def _expand(text: str, variables: Mapping[str, str | None], size: list[int],
            ) -> tuple[str, set[str]]:
    missing: set[str] = set()

    def grow(value: str) -> str:
        size[0] += len(value)
        if size[0] > MAX_EXPANDED:
            raise _TooLarge
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "\\$":
            return "$"
        name = match.group("braced") or match.group("plain")
        value = variables.get(name)
        op = match.group("op")
        if op is None:
            if value is None:
                missing.add(name)
                return ""
            return grow(value)
        word = _expand(match.group("word") or "", variables, size)[0] if op else ""
        is_set = value is not None and (op[0] != ":" or value != "")
        if op.endswith("-"):
            return grow(value) if is_set else word  # type: ignore[arg-type]
        return word if is_set else ""

    if "$" not in text:
        return text, missing
    size[0] += len(text)
    return _VAR.sub(substitute, text), missing


def has_variables(text: str) -> bool:
    return "$" in text and _VAR.search(text) is not None


def split_assignments(text: str) -> list[tuple[str, str | None]]:
    """Split `ARG a=1 b` / `ENV a=1 b="x y"` into (name, raw value or None), quotes removed."""
    pairs: list[tuple[str, str | None]] = []
    for word in _shell_words(text):
        name, sep, value = word.partition("=")
        pairs.append((name, value if sep else None))
    return pairs


def _shell_words(text: str) -> list[str]:
    """Whitespace split honouring quotes and backslashes, quotes removed (Dockerfile word rules)."""
    if not any(c in text for c in "\"'\\"):
        return text.split()  # nothing to unquote: str.split() uses the same isspace() rule
    words: list[str] = []
    current: list[str] = []
    quote = ""
    in_word = False
    i = 0
    while i < len(text):
        char = text[i]
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"' and i + 1 < len(text):
                i += 1
                current.append(text[i])
            else:
                current.append(char)
        elif char in "\"'":
            quote = char
            in_word = True
        elif char == "\\" and i + 1 < len(text):
            i += 1
            current.append(text[i])
            in_word = True
        elif char.isspace():
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(char)
            in_word = True
        i += 1
    if in_word:
        words.append("".join(current))
    return words
