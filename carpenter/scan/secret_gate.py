"""Whether detect-secrets could report anything in a file, without importing it.

Importing detect-secrets (and `requests`, which its plugins import) costs more than the rest
of a cold scan. Its plugins report a secret only where one of their regexes matches a line it
reads, so a file where none of them can match is skipped with no change to the result.
carpenter/data/detect_secrets_gate.json holds, for each regex of each plugin Carpenter enables,
two necessary conditions generated from detect-secrets itself (secret_gate_build.py; a test
fails when the data is out of date):

- `full`: the regex without its look-arounds, anchors and word boundaries. Whether it matches
  then depends only on the characters matched, and every line detect-secrets reads from an
  untransformed file is a substring of the file's text (read as it reads it: `open(path)`,
  universal newlines, strict decoding; undecodable files it skips). So the original regex
  matching a line implies `full` matching the text.
- `pieces`: regexes each match of the original must contain, none of which can match a space,
  quote, `:`, `=` or backslash. detect-secrets rewrites YAML files and files that parse as INI
  into `key: "value"` / `key = "value"` lines; keys, values and comments are the file's own
  text, cut only at such characters (quotes, junctions, folded line breaks, stripping), so each
  piece that matches a rewritten line also matches the file's text. What rewrites text beyond
  that (YAML escapes and tags, INI `%` interpolation, YAML keys that are collections or
  aliases) sends the file to detect-secrets unconditionally.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache, lru_cache
from typing import NamedTuple

from carpenter.core.lazyre import lazy_compile
from carpenter.core.patterncache import compile_cached
from carpenter.core.resources import data_file

GATE_FILE = "detect_secrets_gate.json"
# YAML that the transformer rewrites beyond cutting and joining: escapes (`\`), tags
# (`!!binary`), `%` interpolation in INI files, and keys that are collections (`[a]: v`,
# `? k`) or may alias one (`&anchor`): their rewritten text is not the file's own.
_WORD_RUNS = lazy_compile(r"[\w\-]+")
_REWRITES = lazy_compile(r"[\\!%&]|[\]}][ \t]*:|^[ \t\-]*\?(?:\s|$)", re.MULTILINE)


class _Source(NamedTuple):
    first: str  # the most selective piece (or `full` when there is none)
    full: str
    pieces: tuple[str, ...]
    atoms: tuple[str, ...] | None  # lower-case literals one of which every match holds
    piece_atoms: tuple[str, ...] | None  # the same, found in a piece
    word_run: int  # every match holds this many word characters (or `-`) in a row


class _Gate(NamedTuple):
    sources: tuple[_Source, ...]
    yaml_suffixes: frozenset[str]
    typed_suffixes: frozenset[str]


@lru_cache(maxsize=1)
def _gate() -> _Gate:
    with open(data_file(GATE_FILE), encoding="utf-8") as handle:  # no pathlib on the scan path
        raw = json.loads(handle.read())
    sources = []
    for item in raw["sources"]:
        first = item["full"] if item["first"] is None else item["pieces"][item["first"]]
        sources.append(_Source(first, item["full"], tuple(item["pieces"]),
                               _tuple(item["atoms"]), _tuple(item["piece_atoms"]),
                               int(item["word_run"])))
    return _Gate(tuple(sources), frozenset(raw["yaml_suffixes"]),
                 frozenset(raw["typed_suffixes"]))


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return compile_cached(pattern)  # detect-secrets' patterns, fixed per install


def read_as_detect_secrets(path: str) -> str | None:
    """The file's text as detect-secrets reads it, or None where it reads nothing."""
    try:
        # The same call as detect-secrets' scan_file: the locale's encoding, strict errors,
        # universal newlines.
        with open(path) as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def may_report(path: str, text: str | None = None) -> bool:
    """False only when no plugin of detect-secrets can report anything in the file."""
    if text is None:
        text = read_as_detect_secrets(path)
        if text is None:
            return False
    gate = _gate()
    rewritten = _may_be_rewritten(path, text, gate)
    if rewritten and _REWRITES.search(text):
        return True
    # Substring tests on the lower-cased text first (C-fast); only for ASCII text, where
    # lower() agrees with the regex engine's case-insensitive matching.
    lowered = text.lower() if text.isascii() else None
    found: dict[str, bool] = {}  # many regexes share pieces and literals: test each once
    held: dict[tuple[str, ...], bool] = {}

    def matches(pattern: str) -> bool:
        if pattern not in found:
            found[pattern] = _compiled(pattern).search(text) is not None
        return found[pattern]

    longest = max(map(len, _WORD_RUNS.findall(text)), default=0)
    for source in gate.sources:
        if source.word_run > longest:
            continue
        atoms = source.piece_atoms if rewritten else source.atoms
        if lowered is not None and atoms is not None:
            if atoms not in held:
                held[atoms] = any(a in lowered for a in atoms)
            if not held[atoms]:
                continue
        if not matches(source.first):
            continue
        if rewritten:
            if all(matches(p) for p in source.pieces):
                return True
        elif matches(source.full):
            return True
    return False


def _may_be_rewritten(path: str, text: str, gate: _Gate) -> bool:
    """Whether detect-secrets' YAML or INI transformer may turn the file into other lines."""
    suffix = os.path.splitext(path)[1]
    if suffix in gate.yaml_suffixes:
        return True
    significant = [line for line in text.split("\n")
                   if line.strip() and line.strip()[0] not in "#;"]
    if not significant:
        return False
    if significant[0].strip().startswith("["):
        return True  # configparser reads a file that opens with a section
    if suffix in gate.typed_suffixes:
        return False
    # FileType.OTHER: detect-secrets retries it as INI under a `[global]` header, which
    # parses only if every line is a section, an option (`k=v`, `k: v`) or a continuation.
    return all(line[0].isspace() or "=" in line or ":" in line or line.strip().startswith("[")
               for line in significant)
