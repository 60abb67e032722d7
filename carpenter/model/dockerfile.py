"""The Dockerfile model: instructions exactly as BuildKit reads them, with physical spans.

Parsing uses the PyPI `dockerfile` package, which wraps moby/buildkit's own Go parser, so
heredocs, `# escape=`, continuations with comments and JSON forms behave as in `docker build`.
When the file as a whole does not parse, it is split into instruction chunks and each chunk is
parsed alone: every parseable instruction is still checked and the bad one is reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import field
from functools import cached_property

import dockerfile as _bk

from carpenter.core.lazyre import lazy_compile
from carpenter.core.records import record
from carpenter.model.source import SourceFile, Span, read_source
from carpenter.model.variables import MAX_EXPANDED, expand, expand_bounded, split_assignments

KNOWN_INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})
_DIRECTIVE = lazy_compile(r"^#\s*([A-Za-z]+)\s*=\s*(.*?)\s*$")
_FLAG = lazy_compile(r"--([A-Za-z][A-Za-z0-9-]*)(?:=(\S*))?")
_HEREDOC_MARK = lazy_compile(r"<<(-?)([\"']?)([A-Za-z0-9_.-]+)\2")
# \s and \S use the same Unicode whitespace as str.isspace(): one C call instead of a loop.
_SPACES = lazy_compile(r"\s*")
_NON_SPACES = lazy_compile(r"\S*")
_TOKEN = lazy_compile(r"\S+")


@record(eq=False, slots=True)
class ParseProblem:
    """A syntax problem the parser found (DF001 reports it)."""

    message: str
    line: int
    column: int = 1
    end_line: int | None = None


@record(eq=False, slots=True)
class Heredoc:
    """A `<<EOF` body of an instruction, with its file offsets."""

    name: str
    body: str  # raw file text of the body lines (tabs kept, so offsets match the file)
    offset: int  # file offset of the first body line
    strip_tabs: bool  # <<-EOF
    quoted: bool  # <<"EOF": no expansion inside
    line: int  # physical line of the first body line


@record(eq=False, slots=True)
class Token:
    """A word of an instruction's arguments, with its file offsets."""

    text: str
    offset: int
    end_offset: int


@record(eq=False)
class Instruction:
    """One instruction (continuation lines and heredocs included), with its file offsets."""

    keyword: str
    raw_keyword: str
    source: SourceFile = field(repr=False)
    start_line: int
    end_line: int
    offset: int  # file offset of the keyword
    end_offset: int  # end of the instruction (heredoc bodies included)
    args: str  # argument text; continuations blanked so offsets match the file
    args_offset: int
    flags: dict[str, str | None]
    flag_tokens: list[Token]
    json_args: list[str] | None
    heredocs: list[Heredoc]
    value: tuple[str, ...]  # BuildKit's own split of the arguments
    index: int = 0
    stage: Stage | None = field(default=None, repr=False)
    vars: Mapping[str, str | None] = field(default_factory=dict, repr=False)

    @property
    def span(self) -> Span:
        return self.source.span(self.offset, self.end_offset)

    @cached_property
    def tokens(self) -> list[Token]:
        """Whitespace-separated argument tokens with file offsets (shell/non-JSON forms)."""
        return [
            Token(m.group(0), self.args_offset + m.start(), self.args_offset + m.end())
            for m in _TOKEN.finditer(self.args)
        ]

    def expand(self, text: str) -> tuple[str, set[str]]:
        return expand(text, self.vars)


@record(eq=False)
class Stage:
    """One `FROM` and the instructions of its stage."""

    index: int
    name: str | None
    base_raw: str
    base: str | None  # ARG-resolved reference; None when a variable had no value
    base_span: Span
    is_stage_ref: bool
    platform: str | None
    instruction: Instruction = field(repr=False)
    instructions: list[Instruction] = field(default_factory=list, repr=False)
    parent: Stage | None = field(default=None, repr=False)  # the stage `FROM <name>` builds on


def stage_chain(stage: Stage) -> list[Stage]:
    """The stages a stage builds on (`FROM builder`), first the one with an external image,
    ending with `stage` itself; a cycle stops the walk."""
    chain = [stage]
    seen = {id(stage)}
    parent = stage.parent
    while parent is not None and id(parent) not in seen:
        chain.insert(0, parent)
        seen.add(id(parent))
        parent = parent.parent
    return chain


@record(eq=False)
class Dockerfile:
    """A parsed Dockerfile: instructions, stages, ARGs and what the parser could not read."""

    source: SourceFile
    directives: dict[str, str]
    instructions: list[Instruction]
    stages: list[Stage]
    global_args: dict[str, str | None]
    build_args: dict[str, str]
    problems: list[ParseProblem]
    # Only the beginning was parsed (MAX_CHECKED_BYTES, MAX_INSTRUCTIONS): `source` holds that
    # beginning, never to be written back as the whole file.
    truncated: bool = False

    @property
    def path(self) -> str:
        return self.source.path

    @property
    def escape(self) -> str:
        return self.directives.get("escape", "\\")

    def stage_named(self, name: str) -> Stage | None:
        lowered = name.lower()
        for stage in self.stages:
            if stage.name and stage.name.lower() == lowered:
                return stage
        if name.isdigit() and int(name) < len(self.stages):
            return self.stages[int(name)]
        return None

    def buildkit_features(self) -> list[tuple[str, Instruction | None]]:
        """Syntax only BuildKit accepts; the legacy builder fails or ignores it."""
        found: list[tuple[str, Instruction | None]] = []
        if "syntax" in self.directives:
            found.append((f"# syntax={self.directives['syntax']} frontend directive", None))
        for inst in self.instructions:
            if inst.heredocs:
                found.append(("heredoc", inst))
            if inst.keyword == "RUN":
                for flag in ("mount", "network", "security"):
                    if flag in inst.flags:
                        found.append((f"RUN --{flag}", inst))
            if inst.keyword in ("COPY", "ADD"):
                for flag in ("chmod", "link", "parents", "exclude", "checksum", "keep-git-dir"):
                    if flag in inst.flags:
                        found.append((f"{inst.keyword} --{flag}", inst))
        return found


# ---------------------------------------------------------------------------------------------
# Loading


def load_dockerfile(
    path: str, display: str | None = None, build_args: Mapping[str, str] | None = None
) -> Dockerfile:
    return parse_dockerfile(read_source(path, display), build_args)


# Real Dockerfiles have a few hundred instructions. Past these bounds only the beginning is
# checked (with a located problem saying so): hostile 8 MB files then cost seconds, not
# minutes and gigabytes. Comment lines do not count (a pasted 10 MB changelog is cheap).
MAX_CHECKED_LINES = 4_000  # lines that are not blank or comments (heredoc bodies count)
MAX_CHECKED_BYTES = 1024 * 1024  # in those lines
MAX_INSTRUCTIONS = 2_000


def parse_dockerfile(
    source: SourceFile, build_args: Mapping[str, str] | None = None
) -> Dockerfile:
    directives, _ = _directives(source)
    escape = directives.get("escape", "\\")
    problems: list[ParseProblem] = []
    if escape not in ("\\", "`"):
        problems.append(ParseProblem(f"invalid escape directive {escape!r}: use \\ or `", 1))
        escape = "\\"
    source, cut = _checked_part(source)
    commands = _parse_commands(source, escape, problems)
    if len(commands) > MAX_INSTRUCTIONS:
        cut = commands[MAX_INSTRUCTIONS].start_line
        commands = commands[:MAX_INSTRUCTIONS]
        source = SourceFile(source.path, source.text[:source.offset_of(cut)])
    if cut:
        problems.append(ParseProblem(
            f"Dockerfile too large to check: only lines 1-{cut - 1} were checked (at most "
            f"{MAX_INSTRUCTIONS:,} instructions, {MAX_CHECKED_LINES:,} lines or "
            f"{MAX_CHECKED_BYTES // 1024} KiB of them); the rest was not", cut))
    instructions = [_instruction(source, cmd, escape) for cmd in commands]
    for index, inst in enumerate(instructions):
        inst.index = index
    if not instructions and not problems:
        problems.append(ParseProblem("the Dockerfile has no instructions", 1))
    args = dict(build_args or {})
    stages, global_args = _resolve_stages(instructions, args, problems)
    return Dockerfile(source, directives, instructions, stages, global_args, args, problems,
                      truncated=bool(cut))


_CONTENT_LINE = lazy_compile(r"^[ \t]*[^#\s]", re.MULTILINE)


def _checked_part(source: SourceFile) -> tuple[SourceFile, int]:
    """(the beginning within MAX_CHECKED_LINES / MAX_CHECKED_BYTES of content lines, the first
    line left out), or (source, 0) when the whole file is within them."""
    text = source.text
    if len(text) <= MAX_CHECKED_BYTES and text.count("\n") <= MAX_CHECKED_LINES:
        return source, 0
    size = 0
    for count, match in enumerate(_CONTENT_LINE.finditer(text), start=1):
        end = text.find("\n", match.start())
        end = len(text) if end < 0 else end + 1
        size += end - match.start()
        if count > MAX_CHECKED_LINES or size > MAX_CHECKED_BYTES:
            cut = text.rfind("\n", 0, match.start()) + 1
            if cut == 0:
                return source, 0  # one huge first line: nothing sensible to keep
            return SourceFile(source.path, text[:cut]), text.count("\n", 0, cut) + 1
    return source, 0


def _directives(source: SourceFile) -> tuple[dict[str, str], int]:
    """Parser directives: only at the very top, before any blank line, comment or instruction."""
    found: dict[str, str] = {}
    line_no = 0
    for line_no, line in enumerate(source.text.split("\n"), start=1):
        match = _DIRECTIVE.match(line.strip())
        if not match or match.group(1).lower() in found:
            return found, line_no
        found[match.group(1).lower()] = match.group(2)
    return found, line_no


def _parse_commands(source: SourceFile, escape: str, problems: list[ParseProblem]) -> list:
    try:
        return list(_bk.parse_string(source.text))
    except _bk.GoParseError as exc:
        whole_error = str(exc)
    except Exception as exc:  # the Go side can reject odd input in other ways
        whole_error = str(exc) or type(exc).__name__
    commands = []
    prefix = f"# escape={escape}\n" if escape != "\\" else ""
    for start, end in _chunks(source, escape):
        text = "\n".join(source.line_text(n) for n in range(start, end + 1))
        try:
            parsed = _bk.parse_string(prefix + text + "\n")
        except Exception as exc:
            message = str(exc) or whole_error
            column = len(source.line_text(start)) - len(source.line_text(start).lstrip()) + 1
            problems.append(ParseProblem(f"parse error: {message}", start, column, end))
            continue
        shift = start - 1 - (1 if prefix else 0)
        for cmd in parsed:
            commands.append(
                cmd._replace(start_line=cmd.start_line + shift, end_line=cmd.end_line + shift)
            )
    if not problems:
        problems.append(ParseProblem(f"parse error: {whole_error}", 1))
    return commands


def _chunks(source: SourceFile, escape: str) -> list[tuple[int, int]]:
    """Split a file into instruction line ranges without the Go parser (error recovery)."""
    chunks: list[tuple[int, int]] = []
    lines = source.text.split("\n")
    n = len(lines)
    i = 0
    while i < n:
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start = i
        markers = _HEREDOC_MARK.findall(lines[i])
        while i < n and _continues(lines[i], escape) and i + 1 < n:
            i += 1
            while i < n - 1 and _is_blank_or_comment(lines[i]):
                i += 1
            markers += _HEREDOC_MARK.findall(lines[i])
        keyword = stripped.split(None, 1)[0].upper()
        if keyword in ("RUN", "COPY", "ADD") or keyword not in KNOWN_INSTRUCTIONS:
            for _dash, _quote, name in markers:
                i += 1
                while i < n and lines[i].strip() != name:
                    i += 1
        chunks.append((start + 1, min(i, n - 1) + 1))
        i += 1
    return chunks


def _continues(line: str, escape: str) -> bool:
    stripped = line.rstrip()
    return stripped.endswith(escape) and not stripped.lstrip().startswith("#")


def _is_blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


# ---------------------------------------------------------------------------------------------
# One instruction


def _instruction(source: SourceFile, cmd, escape: str) -> Instruction:
    start = source.offset_of(cmd.start_line)
    head_end_line, blanked = _logical_head(source, cmd.start_line, cmd.end_line, escape)
    text = blanked
    lead = len(text) - len(text.lstrip())
    keyword_end = _NON_SPACES.match(text, lead).end()  # type: ignore[union-attr]
    raw_keyword = text[lead:keyword_end]
    pos = keyword_end
    flag_tokens: list[Token] = []
    flags: dict[str, str | None] = {}
    while True:
        pos = _SPACES.match(text, pos).end()  # type: ignore[union-attr]
        match = _FLAG.match(text, pos)
        if not match or (pos + len(match.group(0)) < len(text) and not text[match.end()].isspace()):
            break
        flags[match.group(1).lower()] = match.group(2)
        flag_tokens.append(Token(match.group(0), start + match.start(), start + match.end()))
        pos = match.end()
    args = text[pos:]
    heredocs = _heredocs(source, cmd, head_end_line, args)
    end_offset = (
        source.offset_of(cmd.end_line) + len(source.line_text(cmd.end_line))
        if cmd.end_line >= cmd.start_line
        else start + len(text)
    )
    return Instruction(
        keyword=raw_keyword.upper(),
        raw_keyword=raw_keyword,
        source=source,
        start_line=cmd.start_line,
        end_line=max(cmd.end_line, head_end_line),
        offset=start + lead,
        end_offset=end_offset,
        args=args,
        args_offset=start + pos,
        flags=flags,
        flag_tokens=flag_tokens,
        json_args=list(cmd.value) if cmd.json else None,
        heredocs=heredocs,
        value=tuple(cmd.value),
    )


def _logical_head(source: SourceFile, first: int, last: int, escape: str) -> tuple[int, str]:
    """Text of the instruction's logical line with continuations and inner comments blanked.

    Blanking replaces characters by spaces instead of deleting them, so an index into the
    result plus the instruction's start offset is an offset into the file.
    """
    parts: list[str] = []
    line_no = first
    limit = max(last, first)
    while True:
        raw, cr = _line_and_cr(source, line_no)
        terminator = "\n" if line_no < source.line_count else ""
        body = raw.rstrip()
        if line_no > first and _is_blank_or_comment(raw) and line_no < limit:
            parts.append(" " * (len(raw) + cr) + " " * len(terminator))
            line_no += 1
            continue
        if body.endswith(escape) and line_no < source.line_count and line_no < limit + 1:
            keep = body[:-1]
            parts.append(keep + " " * (len(raw) - len(keep) + cr) + " " * len(terminator))
            line_no += 1
            if line_no > limit:
                break
            continue
        parts.append(raw + " " * cr)
        break
    return line_no, "".join(parts)


def _line_and_cr(source: SourceFile, line_no: int) -> tuple[str, int]:
    """line_text(line_no) and the width of the stray "\r"s it dropped, from the line table
    (no slicing of the rest of the file: that made 10,000 continuation lines quadratic)."""
    starts = source.line_starts
    text = source.text
    if not 1 <= line_no <= len(starts):  # out of range: the general (clamping) methods
        raw = source.line_text(line_no)
        line_start = source.offset_of(line_no)
        line_end = text.find("\n", line_start)
        return raw, (len(text) if line_end < 0 else line_end) - line_start - len(raw)
    line_start = starts[line_no - 1]
    line_end = starts[line_no] - 1 if line_no < len(starts) else len(text)
    whole = text[line_start:line_end]
    raw = whole.rstrip("\r")
    return raw, len(whole) - len(raw)


def _heredocs(source: SourceFile, cmd, head_end_line: int, args: str) -> list[Heredoc]:
    if not cmd.heredocs:
        return []
    marks = {name: (dash == "-", bool(quote)) for dash, quote, name in _HEREDOC_MARK.findall(args)}
    result: list[Heredoc] = []
    line = head_end_line + 1
    for doc in cmd.heredocs:
        body_lines = doc.content.count("\n")
        offset = source.offset_of(line)
        end = source.offset_of(line + body_lines) if body_lines else offset
        strip_tabs, quoted = marks.get(doc.name, (False, False))
        result.append(Heredoc(doc.name, source.text[offset:end], offset, strip_tabs, quoted, line))
        line += body_lines + 1  # body plus its terminator line
    return result


# ---------------------------------------------------------------------------------------------
# Stages and variables


def _resolve_stages(
    instructions: list[Instruction], build_args: dict[str, str], problems: list[ParseProblem],
) -> tuple[list[Stage], dict[str, str | None]]:
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    current: Stage | None = None
    scope: dict[str, str | None] = dict(global_args)
    for inst in instructions:
        if inst.keyword == "FROM":
            current = _stage(inst, len(stages), global_args, stages)
            stages.append(current)
            scope = {}
            inst.vars = global_args
            inst.stage = current
            current.instructions.append(inst)
            continue
        inst.vars = scope if current else global_args
        if inst.keyword == "ARG":
            scope = dict(inst.vars)
            for name, default in split_assignments(inst.args):
                if current is None:
                    value = _arg_value(name, default, build_args, global_args)
                    global_args[name] = value
                else:
                    inherited = global_args.get(name)
                    value = build_args.get(name)
                    if value is None:
                        value = (_value(name, default, scope, inst, problems)
                                 if default is not None else inherited)
                    scope[name] = value
            if current is None:
                scope = global_args
        elif inst.keyword == "ENV" and current is not None:
            scope = dict(inst.vars)
            for name, value in _env_pairs(inst.args):
                scope[name] = _value(name, value, scope, inst, problems)
        if current is not None:
            inst.stage = current
            current.instructions.append(inst)
    return stages, global_args


def _value(name: str, text: str, scope: Mapping[str, str | None], inst: Instruction,
           problems: list[ParseProblem]) -> str | None:
    """`text` expanded; None (unknown) and a located problem where it would be too large."""
    value, _, too_large = expand_bounded(text, scope)
    if not too_large:
        return value
    problems.append(ParseProblem(
        f"{inst.keyword} {name}: expanding its variables gives over {MAX_EXPANDED:,} characters "
        "(self-referencing definitions): left unexpanded, so what uses it is not fully checked",
        inst.start_line))
    return None


def _arg_value(
    name: str, default: str | None, build_args: Mapping[str, str], known: Mapping[str, str | None]
) -> str | None:
    if name in build_args:
        return build_args[name]
    if default is None:
        return None
    return expand(default, known)[0]


def _env_pairs(args: str) -> list[tuple[str, str]]:
    pairs = split_assignments(args)
    if pairs and pairs[0][1] is None:  # legacy `ENV NAME value with spaces`
        name, _, value = args.strip().partition(" ")
        return [(name, value.strip())]
    return [(name, value or "") for name, value in pairs]


def _stage(
    inst: Instruction, index: int, global_args: Mapping[str, str | None], earlier: list[Stage]
) -> Stage:
    tokens = inst.tokens
    raw = tokens[0].text if tokens else ""
    name = None
    if len(tokens) >= 3 and tokens[1].text.lower() == "as":
        name = tokens[2].text
    resolved, missing = expand(raw, global_args)
    base: str | None = None if missing or not resolved else resolved
    parent = None
    if base is not None:
        parent = next((s for s in earlier if s.name and s.name.lower() == base.lower()), None)
    is_ref = parent is not None
    span = inst.source.span(tokens[0].offset, tokens[0].end_offset) if tokens else inst.span
    platform = inst.flags.get("platform")
    return Stage(index, name, raw, base, span, is_ref, platform, inst, parent=parent)
