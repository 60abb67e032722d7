"""Generate carpenter/data/detect_secrets_gate.json from the installed detect-secrets.

    python -m carpenter.scan.secret_gate_build          # rewrite the data file
    python -m carpenter.scan.secret_gate_build --check  # exit 1 when it is out of date

detect-secrets reports a secret only where one of its plugins' regexes matches a line it reads.
This module takes those regexes (the plugins Carpenter enables, read from detect-secrets itself)
and derives two necessary conditions per regex, both free of zero-width assertions so that
whether they match depends only on the characters matched (see carpenter/scan/secret_gate.py
for the proof of why a file that fails both can be skipped with no change to the result):

- `full`: the regex with every look-around, anchor and word boundary removed (a superset);
- `pieces`: the runs of the regex's required elements that never match a space, a quote, `:`,
  `=` or a backslash. Those runs survive detect-secrets' YAML and INI transformers, which
  rebuild lines as `key: "value"` / `key = "value"` from the file's own scalars.

Regexes are turned back into text from Python's own parse tree, and every one is checked to
parse back to the same tree, so the data file says exactly what detect-secrets' code says.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from re import _constants as C
from re import _parser as P
from typing import Any

from carpenter.core.resources import data_dir

GATE_FILE = "detect_secrets_gate.json"
# Characters detect-secrets' transformers insert or remove around and inside values, plus
# every whitespace character (YAML folding, INI continuation lines, stripping).
JUNCTION = frozenset({chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
                     | set("\"':=\\"))
# Plugins whose analyze_string is not RegexBasedDetector's, each reviewed by hand: the gate
# is only sound for a plugin that reports nothing where its regexes find nothing.
REVIEWED_OVERRIDES = {
    # filters RegexBasedDetector.analyze_string's output (is_formally_valid): a subset
    "JwtTokenDetector",
    # searches the module's *_REGEX patterns (all of them listed by keyword_regexes())
    "KeywordDetector",
}
_CATEGORIES = {
    C.CATEGORY_DIGIT: r"\d", C.CATEGORY_NOT_DIGIT: r"\D", C.CATEGORY_SPACE: r"\s",
    C.CATEGORY_NOT_SPACE: r"\S", C.CATEGORY_WORD: r"\w", C.CATEGORY_NOT_WORD: r"\W",
}
_AT = {C.AT_BEGINNING: "^", C.AT_END: "$", C.AT_BEGINNING_STRING: r"\A",
       C.AT_END_STRING: r"\Z", C.AT_BOUNDARY: r"\b", C.AT_NON_BOUNDARY: r"\B"}
_SCOPED_FLAGS = re.IGNORECASE | re.DOTALL | re.MULTILINE | re.VERBOSE
_FLAG_LETTERS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"), (re.VERBOSE, "x"))


class Unsupported(Exception):
    """A regex construct the gate cannot reason about: review the plugin by hand."""


# ---------------------------------------------------------------------------------------------
# The plugins' regexes, read from detect-secrets


def enabled_plugins() -> list[type]:
    """detect-secrets' default plugins minus the ones Carpenter excludes (scan.secrets)."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.settings import default_settings

    from carpenter.scan.secrets import EXCLUDED_PLUGINS

    with default_settings() as defaults:
        names = [p["name"] for p in defaults.json()["plugins_used"]
                 if p["name"] not in EXCLUDED_PLUGINS]
    by_name = {cls.__name__: cls for cls in get_mapping_from_secret_type_to_class().values()}
    return [by_name[name] for name in names]


def plugin_regexes(cls: type) -> list[re.Pattern[str]]:
    """Every regex whose match is needed for the plugin to report anything."""
    from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector

    own = cls.__name__ in REVIEWED_OVERRIDES
    for method in ("analyze_string", "analyze_line"):
        defined = next(k for k in cls.__mro__ if method in k.__dict__)
        if defined not in (RegexBasedDetector, BasePlugin) and not own:
            raise Unsupported(f"{cls.__name__}.{method} is its own code: review it and add it "
                              "to REVIEWED_OVERRIDES")
    if cls.__name__ == "KeywordDetector":
        return keyword_regexes()
    return list(cls.denylist)


def keyword_regexes() -> list[re.Pattern[str]]:
    """KeywordDetector searches the patterns of its per-file-type tables (and the default
    table): their union covers every file type."""
    from detect_secrets.plugins import keyword

    tables = [keyword.QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP, *keyword.REGEX_BY_FILETYPE.values()]
    seen: dict[tuple[str, int], re.Pattern[str]] = {}
    for table in tables:
        for regex in table:
            seen.setdefault((regex.pattern, regex.flags), regex)
    return list(seen.values())


def file_types() -> tuple[list[str], list[str]]:
    """(suffixes detect-secrets reads as YAML, suffixes it maps to a known type): the others
    are FileType.OTHER, the files its eager INI transformer may rewrite."""
    # determine_file_type is a table lookup on the suffix: probe it with the suffixes it knows.
    import inspect

    from detect_secrets.util.filetype import FileType, determine_file_type

    source = inspect.getsource(determine_file_type)
    suffixes = sorted(set(re.findall(r"'(\.[A-Za-z0-9_+\-]+)'", source)))
    yaml = [s for s in suffixes if determine_file_type("f" + s) == FileType.YAML]
    known = [s for s in suffixes if determine_file_type("f" + s) != FileType.OTHER]
    if determine_file_type("f.no-such-suffix") != FileType.OTHER:
        raise Unsupported("determine_file_type no longer defaults to OTHER")
    return yaml, known


# ---------------------------------------------------------------------------------------------
# Parse tree -> text


def _flag_prefix(add: int, remove: int = 0) -> str:
    on = "".join(letter for flag, letter in _FLAG_LETTERS if add & flag)
    off = "".join(letter for flag, letter in _FLAG_LETTERS if remove & flag)
    return on + (f"-{off}" if off else "")


class _Writer:
    def __init__(self, assertions: bool, referenced: set[int]) -> None:
        self.assertions = assertions  # False: drop look-arounds, anchors and \b
        self.referenced = referenced  # groups a back-reference names

    def seq(self, items: Any) -> str:
        return "".join(self.item(op, av) for op, av in items)

    def atom(self, items: Any) -> str:
        text = self.seq(items)
        single = len(items) == 1 and items[0][0] in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN,
                                                     C.SUBPATTERN, C.BRANCH)
        return text if single and text else f"(?:{text})"

    def item(self, op: Any, av: Any) -> str:
        if op is C.LITERAL:
            return re.escape(chr(av))
        if op is C.NOT_LITERAL:
            return f"[^{re.escape(chr(av))}]"
        if op is C.ANY:
            return "."
        if op is C.IN:
            return self.char_class(av)
        if op is C.BRANCH:
            return "(?:" + "|".join(self.seq(alt) for alt in av[1]) + ")"
        if op is C.SUBPATTERN:
            group, add, remove, body = av
            if (add | remove) & ~_SCOPED_FLAGS:
                raise Unsupported(f"scoped flags {add}/{remove}")
            inner = self.seq(body)
            if add or remove:
                inner = f"(?{_flag_prefix(add, remove)}:{inner})"
            if group in self.referenced:
                return f"(?P<g{group}>{inner})"
            return f"(?:{inner})"
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            low, high, body = av
            suffix = {C.MAX_REPEAT: "", C.MIN_REPEAT: "?", C.POSSESSIVE_REPEAT: "+"}[op]
            if high is C.MAXREPEAT:
                quant = {0: "*", 1: "+"}.get(low, f"{{{low},}}")
            elif (low, high) == (0, 1):
                quant = "?"
            else:
                quant = f"{{{low}}}" if low == high else f"{{{low},{high}}}"
            return self.atom(body) + quant + suffix
        if op is C.AT:
            if av not in _AT:
                raise Unsupported(f"anchor {av}")
            return _AT[av] if self.assertions else ""
        if op in (C.ASSERT, C.ASSERT_NOT):
            if not self.assertions:
                return ""
            direction, body = av
            kind = ("=" if op is C.ASSERT else "!")
            return f"(?{'<' if direction < 0 else ''}{kind}{self.seq(body)})"
        if op is C.GROUPREF:
            return f"(?P=g{av})"
        if op is C.ATOMIC_GROUP:
            return f"(?>{self.seq(av)})"
        raise Unsupported(f"opcode {op}")

    def char_class(self, items: Any) -> str:
        parts = []
        for op, av in items:
            if op is C.NEGATE:
                parts.append("^")
            elif op is C.LITERAL:
                parts.append(re.escape(chr(av)))
            elif op is C.RANGE:
                parts.append(f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}")
            elif op is C.CATEGORY and av in _CATEGORIES:
                parts.append(_CATEGORIES[av])
            else:
                raise Unsupported(f"class item {op}")
        return "[" + "".join(parts) + "]"


def _references(items: Any, found: set[int]) -> set[int]:
    for op, av in items:
        if op is C.GROUPREF:
            found.add(av)
        elif op is C.GROUPREF_EXISTS:
            raise Unsupported("conditional group")
        for sub in _children(op, av):
            _references(sub, found)
    return found


def _children(op: Any, av: Any) -> list[Any]:
    if op is C.BRANCH:
        return list(av[1])
    if op is C.SUBPATTERN:
        return [av[3]]
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        return [av[2]]
    if op in (C.ASSERT, C.ASSERT_NOT):
        return [av[1]]
    if op is C.ATOMIC_GROUP:
        return [av]
    return []


def _shape(items: Any) -> Any:
    """The parse tree without group numbers and plain groups (the text form renumbers and
    adds groups)."""
    out = []
    for op, av in items:
        if op is C.SUBPATTERN and not (av[1] or av[2]):
            out.extend(_shape(av[3]))  # a plain group only groups: splice its body
        elif op is C.SUBPATTERN:
            out.append((op, (av[1], av[2], _shape(av[3]))))
        elif op is C.BRANCH:
            out.append((op, tuple(_shape(alt) for alt in av[1])))
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            out.append((op, (av[0], av[1], _shape(av[2]))))
        elif op in (C.ASSERT, C.ASSERT_NOT):
            out.append((op, (av[0], _shape(av[1]))))
        elif op is C.ATOMIC_GROUP:
            out.append((op, _shape(av)))
        elif op is C.GROUPREF:
            out.append((op, None))
        else:
            out.append((op, av))
    return tuple(out)


def _global_flags(regex: re.Pattern[str]) -> int:
    flags = regex.flags & ~re.UNICODE
    if flags & ~_SCOPED_FLAGS:
        raise Unsupported(f"{regex.pattern!r}: flags {regex.flags}")
    return flags


def _text(regex: re.Pattern[str], items: Any, assertions: bool) -> str:
    writer = _Writer(assertions, _references(items, set()))
    text = writer.seq(items)
    flags = _global_flags(regex) & ~re.VERBOSE  # the text form is never verbose
    return f"(?{_flag_prefix(flags)}:{text})" if flags else text


def _round_trip(regex: re.Pattern[str], items: Any) -> None:
    text = _text(regex, items, assertions=True)
    flags = _global_flags(regex)
    again = P.parse(text, 0)
    original = P.parse(regex.pattern, flags & re.VERBOSE)
    # The text form wraps the flags in one scoped group: compare inside it.
    body = again.data
    if flags & ~re.VERBOSE:
        body = body[0][1][3].data
    if _shape(body) != _shape(original.data):
        raise Unsupported(f"{regex.pattern!r} does not survive the round trip: {text!r}")


# ---------------------------------------------------------------------------------------------
# Required pieces


def _in_class(items: Any, char: str) -> bool:
    negate = False
    hit = False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            hit = hit or chr(av) == char
        elif op is C.RANGE:
            hit = hit or av[0] <= ord(char) <= av[1]
        elif op is C.CATEGORY:
            hit = hit or re.fullmatch(_CATEGORIES[av], char) is not None
    return hit != negate


def _solid(op: Any, av: Any) -> bool:
    """Whether the element matches at least one character and never a JUNCTION character.

    JUNCTION holds no cased letter, so IGNORECASE cannot make an element match one of them."""
    if op is C.LITERAL:
        return chr(av) not in JUNCTION
    if op is C.IN:
        return not any(_in_class(av, char) for char in JUNCTION)
    if op is C.BRANCH:
        return all(alt.data and all(_solid(o, a) for o, a in alt.data) for alt in av[1])
    if op is C.SUBPATTERN:
        return not (av[1] or av[2]) and bool(av[3].data) and all(_solid(o, a)
                                                                for o, a in av[3].data)
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        return av[0] >= 1 and bool(av[2].data) and all(_solid(o, a) for o, a in av[2].data)
    return False


def _pieces(items: Any) -> list[str]:
    """Regexes, each matching inside every match of `items`: runs of consecutive solid
    elements, recursing into groups and repeats that must occur; an alternation whose every
    branch requires something gives the alternation of each branch's best piece."""
    writer = _Writer(False, set())
    runs: list[str] = []
    current: list[Any] = []
    for op, av in items:
        if _solid(op, av):
            current.append((op, av))
            continue
        if current:
            runs.append(writer.seq(current))
            current = []
        if op is C.SUBPATTERN and not (av[1] or av[2]):
            runs.extend(_pieces(av[3].data))
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT) and av[0] >= 1:
            runs.extend(_pieces(av[2].data))
        elif op is C.BRANCH:
            best = [_best(_pieces(alt.data)) for alt in av[1]]
            if all(b is not None for b in best):
                runs.append("(?:" + "|".join(dict.fromkeys(best)) + ")")  # type: ignore[arg-type]
    if current:
        runs.append(writer.seq(current))
    return runs


def _best(pieces: list[str]) -> str | None:
    """The most selective piece: the one whose shortest match is longest."""
    return max(pieces, key=_min_width) if pieces else None


_MAX_STRINGS = 256  # past this many spellings a run is not worth expanding


def _finite(op: Any, av: Any) -> set[str] | None:
    """Every string the element can match, when there are few (`_?`, `[pousr]`, `(?:a|b)`)."""
    if op is C.LITERAL:
        return {chr(av)}
    if op is C.IN and all(o in (C.LITERAL, C.RANGE) for o, _ in av):
        chars = {chr(a) for o, a in av if o is C.LITERAL}
        for o, a in av:
            if o is C.RANGE and a[1] - a[0] < 64:
                chars |= {chr(c) for c in range(a[0], a[1] + 1)}
            elif o is C.RANGE:
                return None
        return chars if len(chars) <= 64 else None
    if op is C.BRANCH:
        alternatives = [_finite_seq(alt.data) for alt in av[1]]
        return None if any(a is None for a in alternatives) else set().union(*alternatives)  # type: ignore[arg-type]
    if op is C.SUBPATTERN and not (av[1] | av[2]) & re.VERBOSE:
        return _finite_seq(av[3].data)
    if op in (C.MAX_REPEAT, C.MIN_REPEAT) and av[1] is not C.MAXREPEAT and av[1] <= 3:
        body = _finite_seq(av[2].data)
        if body is None:
            return None
        out: set[str] = set()
        for count in range(av[0], av[1] + 1):
            out |= _product([body] * count)
        return out if len(out) <= _MAX_STRINGS else None
    return None


def _finite_seq(items: Any) -> set[str] | None:
    parts = [_finite(op, av) for op, av in items]
    if any(p is None for p in parts):
        return None
    out = _product(parts)  # type: ignore[arg-type]
    return out if len(out) <= _MAX_STRINGS else None


def _product(parts: list[set[str]]) -> set[str]:
    out = {""}
    for part in parts:
        out = {a + b for a in out for b in part}
        if len(out) > _MAX_STRINGS:
            return out
    return out


def _atoms(items: Any) -> set[str] | None:
    """Lower-case literals one of which every match contains, or None when none is known: the
    best of the candidate sets (the one whose shortest literal is longest). Candidates are the
    runs of consecutive elements with few spellings (`api_?key` gives apikey and api_key) and
    what a required group, repeat or alternation holds."""
    candidates: list[set[str]] = []
    run: list[set[str]] = []

    def add(spelled: set[str]) -> None:
        candidates.append({w.lower() for w in spelled})
        prefix = os.path.commonprefix(sorted(spelled))  # noqa: RUF071 (strings, not paths)
        if len(spelled) > 1 and prefix:  # `-us` for `-us[0-9]{1,2}`: one look-up, not 110
            candidates.append({prefix.lower()})

    def flush() -> None:
        if run:
            spelled = _product(run)
            if len(spelled) <= _MAX_STRINGS and "" not in spelled:
                add(spelled)
            else:  # too many spellings: each required element on its own
                for part in run:
                    if "" not in part:
                        add(part)
            run.clear()

    for op, av in items:
        finite = _finite(op, av)
        if finite is not None and "" not in finite:
            run.append(finite)
            continue
        if finite is not None:  # optional: the run may be spelled with or without it
            run.append(finite)
            continue
        flush()
        if op is C.BRANCH:
            alternatives = [_atoms(alt.data) for alt in av[1]]
            if all(a is not None for a in alternatives):
                candidates.append(set().union(*alternatives))  # type: ignore[arg-type]
        elif (op is C.SUBPATTERN and not (av[1] | av[2]) & re.VERBOSE) or op is C.ATOMIC_GROUP:
            found = _atoms(av[3].data if op is C.SUBPATTERN else av)
            if found is not None:
                candidates.append(found)
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT) and av[0] >= 1:
            found = _atoms(av[2].data)
            if found is not None:
                candidates.append(found)
    flush()
    # Prefer literals of three characters or more, then few of them, then long ones.
    return max(candidates, default=None,
               key=lambda c: (min(map(len, c)) >= 3, len(c) <= 16, min(map(len, c))))


def _word_char(char: str) -> bool:
    return char == "-" or re.fullmatch(r"\w", char) is not None


def _in_word(op: Any, av: Any) -> bool:
    """Whether every character the element matches is a word character or `-`."""
    if op is C.LITERAL:
        return _word_char(chr(av))
    if op is C.IN:
        for o, a in av:
            if o is C.LITERAL and not _word_char(chr(a)):
                return False
            if o is C.RANGE and not all(_word_char(chr(c)) for c in range(a[0], a[1] + 1)):
                return False
            if o is C.CATEGORY and a not in (C.CATEGORY_DIGIT, C.CATEGORY_WORD):
                return False
            if o is C.NEGATE:
                return False
        return True
    if op is C.BRANCH:
        return all(all(_in_word(o, a) for o, a in alt.data) for alt in av[1])
    if op is C.SUBPATTERN:
        return all(_in_word(o, a) for o, a in av[3].data)
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        return all(_in_word(o, a) for o, a in av[2].data)
    return False


def _word_run(piece: str) -> int:
    """Length of a run of word characters and `-` that every match of the piece contains."""
    best = current = 0
    for op, av in P.parse(piece, 0).data:
        if op is C.SUBPATTERN and len(av[3].data) == 1:
            op, av = av[3].data[0]  # the `(?i:...)` wrapper
        if _in_word(op, av):
            current += P.SubPattern(P.State(), [(op, av)]).getwidth()[0]
            best = max(best, current)
        else:
            current = 0
    return best


def _min_width(regex_text: str) -> int:
    return P.parse(regex_text, 0).getwidth()[0]


def describe(cls: type, regex: re.Pattern[str]) -> dict[str, Any]:
    parsed = P.parse(regex.pattern, _global_flags(regex) & re.VERBOSE)
    _round_trip(regex, parsed.data)
    flags = _global_flags(regex) & ~re.VERBOSE
    pieces = _pieces(parsed.data)
    if flags:
        pieces = [f"(?{_flag_prefix(flags)}:{p})" for p in pieces]
    full = _text(regex, parsed.data, assertions=False)
    # Stage one searches for the most selective piece (the longest shortest match).
    ranked = sorted(range(len(pieces)), key=lambda i: -_min_width(pieces[i]))
    piece_atoms = [a for a in (_atoms(P.parse(p, 0).data) for p in pieces) if a is not None]
    return {"plugin": cls.__name__, "source": regex.pattern, "full": full, "pieces": pieces,
            "first": ranked[0] if ranked else None,
            "atoms": _useful(_atoms(parsed.data)),
            "word_run": max(map(_word_run, pieces), default=0),
            "piece_atoms": _useful(max(piece_atoms, key=lambda a: min(map(len, a)), default=None))}


def _useful(atoms: set[str] | None) -> list[str] | None:
    """Literals of one or two characters are in nearly every file: not worth a look-up."""
    return sorted(atoms) if atoms and min(map(len, atoms)) >= 3 else None


def build() -> dict[str, Any]:
    from detect_secrets.__version__ import VERSION

    yaml, known = file_types()
    sources = [describe(cls, regex) for cls in enabled_plugins() for regex in plugin_regexes(cls)]
    return {
        "about": "Generated by `python -m carpenter.scan.secret_gate_build` from the installed "
                 "detect-secrets; see carpenter/scan/secret_gate.py. Do not edit.",
        "detect_secrets_version": VERSION,
        "yaml_suffixes": yaml,
        "typed_suffixes": known,
        "sources": sources,
    }


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when the data file differs from what would be generated")
    args = parser.parse_args(argv)
    path = data_dir() / GATE_FILE
    text = render(build())
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            print(f"{path} is out of date: run python -m carpenter.scan.secret_gate_build",
                  file=sys.stderr)
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path} ({len(data_sources(text))} regexes)")
    return 0


def data_sources(text: str) -> list[dict[str, Any]]:
    return json.loads(text)["sources"]


if __name__ == "__main__":
    sys.exit(main())
