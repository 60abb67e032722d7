"""Requirements and constraints files as pip reads them, with file offsets for every part.

pip joins `\\`-continued lines, drops `#` comments (at line start or after whitespace), reads
options lines (`-r`, `-c`, `-e`, `-i`, `--extra-index-url`, `--pre` ...) and per-requirement
options (`--hash=...`). Nested `-r`/`-c` paths are relative to the file that names them.
A range of a file can be parsed too: a `COPY <<EOF requirements.txt` heredoc in a Dockerfile.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import field

from carpenter.core.lazyre import lazy_compile
from carpenter.core.records import record
from carpenter.model.pip import PipRequirement, classify_requirement
from carpenter.model.shell import Word
from carpenter.model.source import SourceFile
from carpenter.model.variables import expand

# Options that may stand on a line of their own, with whether they take a value.
LINE_OPTIONS: dict[str, bool] = {
    "-r": True, "--requirement": True, "-c": True, "--constraint": True, "-e": True,
    "--editable": True, "-i": True, "--index-url": True, "--extra-index-url": True,
    "-f": True, "--find-links": True, "--no-index": False, "--pre": False,
    "--prefer-binary": False, "--require-hashes": False, "--no-binary": True,
    "--only-binary": True, "--trusted-host": True, "--use-feature": True,
}
LONG = {"-r": "--requirement", "-c": "--constraint", "-e": "--editable", "-i": "--index-url",
        "-f": "--find-links"}
_ENV_VAR = lazy_compile(r"\$\{([A-Z0-9_]+)\}")  # pip only expands ${UPPER_CASE}
_TOKEN = lazy_compile(r"\S+")
_COMMENT = lazy_compile(r"(^|\s)#")
_REQ_HEAD = lazy_compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?\s*")


@record(eq=False, slots=True)
class ReqOption:
    """An option line of a requirements file (`-r`, `--index-url`, ...)."""

    name: str  # canonical long name
    value: str | None
    offset: int
    end_offset: int
    value_offset: int | None = None
    value_end_offset: int | None = None


@record(eq=False, slots=True)
class ReqLine:
    """One logical line of a requirements file (continuations joined)."""

    kind: str  # requirement | option | comment | blank
    line: int  # first physical line
    end_line: int
    offset: int  # content span (comment and trailing blanks excluded)
    end_offset: int
    text: str  # logical content: continuations joined, comment removed
    requirement: PipRequirement | None = None
    options: list[ReqOption] = field(default_factory=list)
    spec_offset: int | None = None  # where the version specifier is (or would go)
    spec_end_offset: int | None = None

    @property
    def hashes(self) -> tuple[str, ...]:
        return self.requirement.hashes if self.requirement else ()


@record(eq=False, slots=True)
class RequirementsFile:
    """A parsed requirements file."""

    source: SourceFile
    lines: list[ReqLine]
    rel: str | None = None  # build-context-relative path, when known

    @property
    def requirements(self) -> list[ReqLine]:
        return [line for line in self.lines if line.requirement is not None]

    def options(self, name: str) -> list[ReqOption]:
        return [o for line in self.lines for o in line.options if o.name == name]

    @property
    def includes(self) -> list[tuple[str, ReqOption]]:
        """Nested files as ("requirement"|"constraint", option)."""
        out = []
        for line in self.lines:
            for option in line.options:
                if option.name == "--requirement" and option.value:
                    out.append(("requirement", option))
                elif option.name == "--constraint" and option.value:
                    out.append(("constraint", option))
        return out

    @property
    def require_hashes(self) -> bool:
        return bool(self.options("--require-hashes"))


def parse_requirements(
    source: SourceFile,
    start: int = 0,
    end: int | None = None,
    variables: Mapping[str, str | None] | None = None,
) -> RequirementsFile:
    """Parse source.text[start:end] (the whole file by default)."""
    end = len(source.text) if end is None else end
    lines: list[ReqLine] = []
    for chars, offsets in _logical_lines(source.text, start, end):
        lines.append(_parse_line(source, chars, offsets, variables or {}))
    return RequirementsFile(source, lines)


def _logical_lines(text: str, start: int, end: int):
    """Yield (logical line text, file offset of each character) with `\\` continuations joined."""
    pos = start
    chars: list[str] = []
    offsets: list[int] = []
    while pos < end:
        newline = text.find("\n", pos, end)
        stop = end if newline == -1 else newline
        physical = text[pos:stop].rstrip("\r")
        if physical.endswith("\\") and not _is_comment(physical) and stop < end:
            chars.append(physical[:-1])
            offsets.extend(range(pos, pos + len(physical) - 1))
        else:
            chars.append(physical)
            offsets.extend(range(pos, pos + len(physical)))
            offsets.append(pos + len(physical))  # sentinel: end of the logical line
            yield "".join(chars), offsets
            chars, offsets = [], []
        pos = stop + 1
    if chars:
        offsets.append(end)
        yield "".join(chars), offsets


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _parse_line(source: SourceFile, text: str, offsets: list[int], variables) -> ReqLine:
    content = _strip_comment(text)
    first_line = source.position(offsets[0])[0]
    last_line = source.position(max(offsets[0], offsets[-1] - 1))[0]
    stripped = content.strip()
    if not stripped:
        kind = "comment" if text.strip() else "blank"
        return ReqLine(kind, first_line, last_line, offsets[0], offsets[0], "")
    lead = len(content) - len(content.lstrip())
    start, stop = offsets[lead], offsets[len(content.rstrip())]
    line = ReqLine("option", first_line, source.position(max(start, stop - 1))[0], start, stop,
                   stripped)
    tokens = [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(content)]
    if stripped.startswith("-"):
        _parse_options(line, tokens, offsets, variables)
        editable = next((o for o in line.options if o.name == "--editable"), None)
        if editable is not None and editable.value and editable.value_offset is not None:
            word = Word(editable.value, editable.value, editable.value_offset,
                        editable.value_end_offset or editable.value_offset)
            req = classify_requirement(editable.value, word)
            req.editable = True
            line.requirement = req
            line.kind = "requirement"
        return line
    # A requirement, possibly followed by per-requirement options (` --hash=...`).
    req_end = len(content)
    for token, s, _e in tokens:
        if token.startswith("--") and s > 0 and content[s - 1].isspace():
            req_end = s
            break
    req_text = content[lead:req_end].rstrip()
    option_tokens = [t for t in tokens if t[1] >= req_end]
    _parse_options(line, option_tokens, offsets, variables)
    expanded = _expand(req_text, variables)
    word = Word(expanded, req_text, offsets[lead], offsets[lead + len(req_text)])
    req = classify_requirement(expanded, word)
    req.hashes = tuple(o.value for o in line.options if o.name == "--hash" and o.value)
    line.requirement = req
    line.kind = "requirement"
    line.end_offset = offsets[len(content.rstrip())]
    if req.kind == "requirement":
        head = _REQ_HEAD.match(req_text)
        spec_start = lead + (head.end() if head else len(req_text))
        spec_stop = lead + len(req_text.split(";", 1)[0].rstrip())
        line.spec_offset = offsets[spec_start]
        line.spec_end_offset = offsets[max(spec_start, spec_stop)]
    return line


def _strip_comment(text: str) -> str:
    """pip's comment rule: `#` at the start or after whitespace starts a comment."""
    if "#" not in text:
        return text  # most lines: no regex needed
    match = _COMMENT.search(text)
    return text[: match.start()] if match else text


def _parse_options(line: ReqLine, tokens, offsets: list[int], variables) -> None:
    i = 0
    while i < len(tokens):
        token, s, e = tokens[i]
        name, eq, value = token.partition("=")
        if not eq and name[:2] in LONG and len(name) > 2 and not name.startswith("--"):
            name, value, eq = name[:2], name[2:], "="  # `-rother.txt`
        canonical = LONG.get(name, name)
        takes_value = LINE_OPTIONS.get(name, canonical in ("--hash", "--config-settings",
                                                           "--global-option"))
        if eq:
            value_start = s + len(token) - len(value)
            line.options.append(ReqOption(canonical, _expand(value, variables), offsets[s],
                                          offsets[e], offsets[value_start], offsets[e]))
            i += 1
        elif takes_value and i + 1 < len(tokens):
            vt, vs, ve = tokens[i + 1]
            line.options.append(ReqOption(canonical, _expand(vt, variables), offsets[s],
                                          offsets[ve], offsets[vs], offsets[ve]))
            i += 2
        else:
            line.options.append(ReqOption(canonical, None, offsets[s], offsets[e]))
            i += 1


def _expand(text: str, variables) -> str:
    if "${" not in text:
        return text
    return _ENV_VAR.sub(lambda m: expand("${" + m.group(1) + "}", variables)[0], text)


# ---------------------------------------------------------------------------------------------
# Following nested files


@record(eq=False, slots=True)
class Included:
    """A requirements or constraints file a pip command reads, directly or by `-r`/`-c`."""

    file: RequirementsFile
    kind: str  # requirement | constraint
    parent: RequirementsFile | None = None
    option: ReqOption | None = None  # the -r/-c line that named it


def follow(
    path: str,
    kind: str,
    read: Callable[[str], RequirementsFile | None],
    limit: int = 50,
) -> list[Included]:
    """The file at `path` and every file it includes (cycle-safe, depth-first).

    `read` parses the file at a path (context- or image-relative: nested paths are joined to
    the including file's folder in the same space). A file named by `-c` is a constraints
    file, and so is everything it includes.
    """
    out: list[Included] = []
    seen: set[str] = set()

    def visit(where: str, as_kind: str, parent: RequirementsFile | None, option) -> None:
        key = posixpath.normpath(where)
        if key in seen or len(out) >= limit or "://" in where:
            return
        seen.add(key)
        parsed = read(key)
        if parsed is None:
            return
        out.append(Included(parsed, as_kind, parent, option))
        base = posixpath.dirname(key)
        for nested_kind, nested in parsed.includes:
            child_kind = "constraint" if as_kind == "constraint" else nested_kind
            visit(posixpath.join(base, nested.value or ""), child_kind, parsed, nested)

    visit(path, kind, None, None)
    return out
