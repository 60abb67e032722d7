"""Shell scripts inside a Dockerfile, parsed (tree-sitter-bash, else bashlex) into simple commands.

A RUN can hold several scripts: its shell-form text, heredoc bodies, and `sh -c`/`bash -c`
strings. Every script is parsed once (cached by text), and every simple command reachable
through `&&`, `||`, `;`, pipes, subshells, `$(...)` and env prefixes is listed with the file
offsets of its words, so findings point at the physical line of the offending word.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from dataclasses import field
from functools import lru_cache
from typing import TYPE_CHECKING

from carpenter.core.detached import load_detached
from carpenter.core.lazyre import lazy_compile
from carpenter.core.records import record
from carpenter.model.dockerfile import Instruction

if TYPE_CHECKING:
    from tree_sitter import Node, Parser

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ash", "/bin/sh", "/bin/bash", "/usr/bin/bash"})
PYTHONS = lazy_compile(r"^(?:.*/)?python(?:\d(?:\.\d+)?)?$")
# Wrappers whose arguments are another command.
WRAPPERS = frozenset({"sudo", "env", "exec", "time", "nohup", "nice", "command", "xargs", "eval"})


@record(frozen=True, slots=True)
class Word:
    """A shell word of a RUN command, as written and after quote removal, with file offsets."""

    text: str  # after quote removal (variables not expanded)
    raw: str  # as written
    offset: int  # file offsets
    end_offset: int

    @property
    def quoted(self) -> bool:
        return any(q in self.raw for q in "\"'")


@record(eq=False, slots=True)
class Redirect:
    """A redirection (`> file`, `2>&1`) of a simple command."""

    op: str
    target: Word | None
    offset: int
    end_offset: int


@record(eq=False, slots=True)
class SimpleCommand:
    """One simple command of a RUN script: its words, assignments and redirections."""

    words: list[Word]
    assignments: list[Word]
    redirects: list[Redirect]
    offset: int
    end_offset: int
    nested: bool = False  # inside $(...) or `...`
    # effective() result, computed once: many rules ask for it on the same command. Excluded
    # from __eq__/__repr__ so a command compares and prints as before.
    _effective: tuple[tuple[Word, ...], tuple[Word, ...]] | None = field(
        default=None, init=False, repr=False, compare=False)

    @property
    def argv(self) -> list[str]:
        return [w.text for w in self.words]

    @property
    def name(self) -> str:
        return self.words[0].text if self.words else ""

    def effective(self) -> tuple[list[Word], list[Word]]:
        """Words after wrappers (`sudo`, `env A=b`, `time`...); also returns env assignments.

        Fresh lists each call (callers may change them); the walk itself runs once per command.
        """
        cached = self._effective
        if cached is None:
            cached = self._effective = self._compute_effective()
        return list(cached[0]), list(cached[1])

    def _compute_effective(self) -> tuple[tuple[Word, ...], tuple[Word, ...]]:
        words = list(self.words)
        env = list(self.assignments)
        while words and words[0].text.rsplit("/", 1)[-1] in WRAPPERS:
            words.pop(0)
            while words and (words[0].text.startswith("-") or _is_assignment(words[0].text)):
                if _is_assignment(words[0].text):
                    env.append(words[0])
                words.pop(0)
        return tuple(words), tuple(env)


@record(eq=False, slots=True)
class Script:
    """The script a RUN runs (shell, python, a heredoc written to a file), with its commands."""

    kind: str  # "shell" | "python" | "file" (heredoc content written to a file) | "other"
    text: str
    offset: int
    commands: list[SimpleCommand] = field(default_factory=list)
    # Shell parse failure (commands then come from a fallback split). No offset: bashlex's
    # error position depends on what it parsed before in the process, so it is not kept.
    problem: str | None = None
    via: str = "run"  # run | heredoc | exec | sh-c


def _is_assignment(text: str) -> bool:
    return re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", text) is not None


# ---------------------------------------------------------------------------------------------
# Public entry point


def scripts_of(inst: Instruction) -> list[Script]:
    """Every script an instruction runs (RUN, CMD, ENTRYPOINT) or writes (heredoc files)."""
    cached = getattr(inst, "_scripts", None)
    if cached is not None:
        return cached
    scripts: list[Script] = []
    if inst.keyword in ("RUN", "CMD", "ENTRYPOINT", "HEALTHCHECK"):
        scripts = _run_scripts(inst)
    elif inst.keyword in ("COPY", "ADD"):
        scripts = [Script("file", h.body, h.offset, via="heredoc") for h in inst.heredocs]
    inst._scripts = scripts  # type: ignore[attr-defined]
    return scripts


def all_commands(inst: Instruction) -> list[tuple[Script, SimpleCommand]]:
    """Every simple command of every script (only shell scripts have commands)."""
    cached = getattr(inst, "_all_commands", None)
    if cached is None:
        cached = tuple((s, c) for s in scripts_of(inst) for c in s.commands)
        inst._all_commands = cached  # type: ignore[attr-defined]
    return list(cached)  # a fresh list: callers may change it


def run_commands(inst: Instruction) -> list[tuple[Script, SimpleCommand]]:
    """The simple commands a RUN executes at build time (CMD/ENTRYPOINT excluded)."""
    return all_commands(inst) if inst.keyword == "RUN" else []


def _run_scripts(inst: Instruction) -> list[Script]:
    if inst.json_args is not None:
        return _exec_form(inst)
    text = inst.args
    if inst.heredocs:
        text = re.sub(r"<<-?([\"']?)[A-Za-z0-9_.-]+\1", lambda m: " " * len(m.group(0)), text)
    main = parse_script(text, inst.args_offset, "shell", "run")
    scripts = [main]
    for doc in inst.heredocs:
        kind = _heredoc_kind(inst, doc.name, main)
        body = doc.body.replace("\\\n", "  ") if kind == "shell" else doc.body
        if kind == "shell":
            scripts.append(parse_script(body, doc.offset, "shell", "heredoc"))
        else:
            scripts.append(Script(kind, doc.body, doc.offset, via="heredoc"))
    scripts.extend(_nested_shells(scripts))
    return scripts


def _heredoc_kind(inst: Instruction, name: str, main: Script) -> str:
    marker = re.search(r"<<-?([\"']?)" + re.escape(name) + r"\1", inst.args)
    if marker is None:
        return "shell"
    at = inst.args_offset + marker.start()
    owner = None
    for cmd in main.commands:
        if cmd.nested:
            continue
        lo, hi = sorted((at, cmd.offset if at < cmd.offset else cmd.end_offset))
        between = inst.source.text[lo:hi]
        if cmd.offset <= at <= cmd.end_offset + 1 or not re.search(r"&&|\|\||[;|\n]", between):
            owner = cmd
            break
    if owner is None or not owner.words:
        return "shell"  # `RUN <<EOF`: the body is the script itself
    words, _ = owner.effective()
    name0 = words[0].text if words else ""
    if name0 in SHELLS or name0.rsplit("/", 1)[-1] in SHELLS:
        return "shell"
    if PYTHONS.match(name0):
        return "python"
    if any(r.op in (">", ">>") for r in owner.redirects) or name0 in ("cat", "tee"):
        return "file"
    return "other"


def _exec_form(inst: Instruction) -> list[Script]:
    argv = inst.json_args or []
    words: list[Word] = []
    search_from = 0
    for item in argv:
        encoded = json.dumps(item)
        at = inst.args.find(encoded, search_from)
        if at < 0:
            at = max(0, search_from)
            start, end = inst.args_offset + at, inst.args_offset + at
        else:
            start, end = inst.args_offset + at, inst.args_offset + at + len(encoded)
            search_from = at + len(encoded)
        words.append(Word(item, encoded, start, end))
    cmd = SimpleCommand(words, [], [], inst.args_offset, inst.args_offset + len(inst.args))
    script = Script("shell", inst.args, inst.args_offset, [cmd], via="exec")
    return [script, *_nested_shells([script])]


def _nested_shells(scripts: list[Script]) -> list[Script]:
    """`sh -c "..."` / `bash -lc '...'` strings become scripts of their own."""
    found: list[Script] = []
    for script in scripts:
        for cmd in script.commands:
            words, _ = cmd.effective()
            if len(words) < 3 or words[0].text.rsplit("/", 1)[-1] not in SHELLS:
                continue
            for index, word in enumerate(words[1:-1], start=1):
                flag = word.text
                if flag.startswith("-") and "c" in flag[1:] and not flag.startswith("--"):
                    body = words[index + 1]
                    start = body.offset + (1 if body.raw[:1] in "\"'" else 0)
                    inner = parse_script(body.text, start, "shell", "sh-c")
                    found.append(inner)
                    found.extend(_nested_shells([inner]))
                    break
    return found


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_script(text: str, offset: int, kind: str = "shell", via: str = "run") -> Script:
    relative, problem = _parse_cached(text)
    commands = [_shift(cmd, offset, text) for cmd in relative]
    return Script(kind, text, offset, commands, problem, via)


# A relative command: (words, assignments, redirects, start, end, nested) with positions in text.
_Rel = tuple[tuple, tuple, tuple, int, int, bool]


# Which parser reads a script first. tree-sitter-bash is ~9x faster than bashlex and gives the
# same commands (tests/model/test_shell_backends.py); a script it marks as an error, or a tree
# shape the mapping does not model, is read by bashlex, whose verdict and message make SH006.
BACKEND = "tree-sitter"  # or "bashlex"


@lru_cache(maxsize=8192)
def _parse_cached(text: str) -> tuple[tuple[_Rel, ...], str | None]:
    if not text.strip():
        return (), None
    try:
        if BACKEND == "tree-sitter":
            commands = _parse_tree_sitter(text)
            if commands is not None:
                return commands, None
        return _parse_bashlex(text)
    except RecursionError:
        # Hundreds of nested `( ... )` or `$( ... )`: both tree walks recurse per level. The
        # script is read by the flat fallback split and reported (SH006) as not fully checked.
        return tuple(_fallback(text)), TOO_DEEP


TOO_DEEP = ("shell script nested too deeply to parse (hundreds of levels of ( ) or $( )): "
            "its commands were not fully checked")


def _parse_bashlex(text: str) -> tuple[tuple[_Rel, ...], str | None]:
    try:
        import bashlex

        trees = bashlex.parse(text)
    except Exception as exc:  # bashlex raises ParsingError, NotImplementedError, others
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return tuple(_fallback(text)), f"shell parse error: {message}"
    out: list[_Rel] = []
    for tree in trees:
        _walk(tree, text, out, False)
    return tuple(out), None


def _walk(node, text: str, out: list[_Rel], nested: bool) -> None:
    kind = node.kind
    if kind == "command":
        words, assigns, redirects = [], [], []
        for part in node.parts:
            if part.kind == "word":
                words.append((part.word, part.pos[0], part.pos[1]))
            elif part.kind == "assignment":
                assigns.append((part.word, part.pos[0], part.pos[1]))
            elif part.kind == "redirect":
                target = getattr(part, "output", None)
                tword = None
                if target is not None and getattr(target, "kind", None) == "word":
                    tword = (target.word, target.pos[0], target.pos[1])
                redirects.append((part.type, tword, part.pos[0], part.pos[1]))
        if words or assigns or redirects:
            out.append((tuple(words), tuple(assigns), tuple(redirects), *node.pos, nested))
        for part in node.parts:
            _walk_parts(part, text, out)
        return
    for attr in ("parts", "list"):
        for child in getattr(node, attr, None) or []:
            _walk(child, text, out, nested)
    command = getattr(node, "command", None)
    if command is not None and hasattr(command, "kind"):
        _walk(command, text, out, True if kind == "commandsubstitution" else nested)


def _walk_parts(node, text: str, out: list[_Rel]) -> None:
    """Command substitutions inside words and assignments."""
    for child in getattr(node, "parts", None) or []:
        if child.kind in ("commandsubstitution", "processsubstitution"):
            _walk(child.command, text, out, True)
        else:
            _walk_parts(child, text, out)
    output = getattr(node, "output", None)
    if output is not None and hasattr(output, "kind"):
        _walk_parts(output, text, out)


def _shift(rel: _Rel, offset: int, text: str) -> SimpleCommand:
    words, assigns, redirects, start, end, nested = rel

    def word(item) -> Word:
        value, s, e = item
        return Word(value, text[s:e], offset + s, offset + e)

    return SimpleCommand(
        [word(w) for w in words],
        [word(a) for a in assigns],
        [
            Redirect(op, word(t) if t else None, offset + s, offset + e)
            for op, t, s, e in redirects
        ],
        offset + start,
        offset + end,
        nested,
    )


# ---------------------------------------------------------------------------------------------
# tree-sitter-bash backend: the same relative commands as _walk gives from bashlex's trees.

_TS_PARSER: Parser | None = None
_REDIRECTS = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})
_SUBSTITUTIONS = frozenset({"command_substitution", "process_substitution"})
# Statements read as one simple command (declaration/unset keywords are plain words for bashlex).
_SIMPLE = frozenset(
    {"command", "declaration_command", "unset_command", "variable_assignments"}
)
# Nodes whose children are statements: a bare `A=1` there is a command of its own.
_STATEMENT_LISTS = frozenset(
    {"program", "list", "pipeline", "subshell", "compound_statement", "do_group",
     "if_statement", "elif_clause", "else_clause", "case_item", "while_statement",
     "negated_command", "redirected_statement", "function_definition"}
)
# Quote removal keeps these as written, as bashlex does (variables are not expanded).
_VERBATIM = frozenset(
    {"simple_expansion", "expansion", "command_substitution", "process_substitution",
     "arithmetic_expansion"}
)
# Expression nodes inside `[ ... ]`: their leaves are the words of the `[` command.
_TEST_EXPRESSIONS = frozenset(
    {"unary_expression", "binary_expression", "parenthesized_expression",
     "negated_expression", "postfix_expression", "ternary_expression"}
)
# `2>&-` closes a descriptor: bashlex reports it as `>&` without a target word.
_CLOSE_OPS = {">&-": ">&", "<&-": "<&"}
_ANSI_C = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b",
           "f": "\f", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


class _Unsupported(Exception):
    """A tree shape the mapping does not model: bashlex reads the script instead."""


def _parse_tree_sitter(text: str) -> tuple[_Rel, ...] | None:
    """Relative commands from tree-sitter-bash; None where bashlex must decide."""
    try:
        data = text.encode()
    except UnicodeEncodeError:  # lone surrogates from a badly encoded file
        return None
    root = _ts_parser().parse(data).root_node
    if root.has_error:
        return None
    walk = _TreeWalk(text, data)
    try:
        walk.statement(root, False, [])
    except _Unsupported:
        return None
    return tuple(walk.out)


def _ts_parser() -> Parser:
    global _TS_PARSER
    if _TS_PARSER is None:  # imported here: `carpenter --help` must not load the grammar
        import tree_sitter

        _TS_PARSER = tree_sitter.Parser(tree_sitter.Language(bash_language()))
    return _TS_PARSER


def bash_language() -> object:
    """tree-sitter-bash's language pointer (`tree_sitter_bash.language()`).

    Taken from the package's compiled extension alone (core.detached): its `__init__` imports
    importlib.resources (and with it tempfile, shutil, zlib, bz2, lzma, random: ~5 ms of a
    cold scan) only to read a highlighting query Carpenter never uses."""
    binding = sys.modules.get("tree_sitter_bash._binding") or load_detached(
        "tree_sitter_bash._binding")
    if binding is None:  # not a plain file on disk: the ordinary import
        import tree_sitter_bash

        return tree_sitter_bash.language()
    return binding.language()


def _char_index(text: str) -> list[int]:
    """str index of every UTF-8 byte offset (tree-sitter positions are byte offsets)."""
    index: list[int] = []
    for at, char in enumerate(text):
        code = ord(char)
        index.extend([at] * (1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000
                             else 4))
    index.append(len(text))
    return index


class _TreeWalk:
    def __init__(self, text: str, data: bytes) -> None:
        self.text = text
        self.data = data
        self.out: list[_Rel] = []
        self.index = None if len(data) == len(text) else _char_index(text)

    def span(self, node: Node) -> tuple[int, int]:
        if self.index is None:
            return node.start_byte, node.end_byte
        return self.index[node.start_byte], self.index[node.end_byte]

    # -- statements ---------------------------------------------------------------------------

    def statement(self, node: Node, nested: bool, tail: list[Node]) -> None:
        """Walk a statement; `tail` are redirects written after it that bash gives its last
        command (tree-sitter hangs `a | b > f` and `a && b > f` on the whole pipeline/list)."""
        kind = node.type
        if kind in _SIMPLE or kind == "variable_assignment" or (
            kind == "test_command" and node.children[0].type == "["
        ):
            self.simple(node, tail, nested)
        elif kind == "redirected_statement":
            body = node.child_by_field_name("body")
            redirects = [c for c in node.children if c.type in _REDIRECTS] + tail
            if body is None:
                self.simple(None, redirects, nested)
            else:
                self.statement(body, nested, redirects)
        elif kind in ("list", "pipeline", "negated_command"):
            children = _flat_children(node)
            for child in children[:-1]:
                self.statement(child, nested, [])
            if children:
                self.statement(children[-1], nested, tail)
        else:
            nested = nested or kind in _SUBSTITUTIONS
            for child in node.children:
                if child.type == "variable_assignment" and kind not in _STATEMENT_LISTS:
                    self.substitutions(child)  # `for ((i=0; ...))` assigns, runs nothing
                else:
                    self.statement(child, nested, [])
            for redirect in tail:  # a compound command's redirect: only substitutions run
                self.substitutions(redirect)

    def substitutions(self, node: Node) -> None:
        """Commands in `$(...)`, backticks and `<(...)` at or below node."""
        if node.type in _SUBSTITUTIONS:
            self.statement(node, True, [])
            return
        for child in node.children:
            if child.child_count:
                self.substitutions(child)

    def simple(self, node: Node | None, tail: list[Node], nested: bool) -> None:
        if node is None:
            parts = []
        elif node.type == "variable_assignment":
            parts = [node]
        elif node.type == "test_command":
            parts = _test_leaves(node)
        else:
            parts = node.children
        parts = parts + tail
        self.check_gaps(parts)
        may_assign = node is not None and node.type != "declaration_command"
        words: list = []
        assigns: list = []
        redirects: list = []
        pieces: list = []  # adjacent nodes that make one shell word (`$"x"`, `a=b` in `[`)
        for part in parts:
            kind = part.type
            if kind == "variable_assignment" and may_assign:
                self.flush(pieces, words)
                assigns.append(self.word([part]))
            elif kind in _REDIRECTS:
                self.flush(pieces, words)
                self.redirect(part, words, redirects)
            elif kind != "comment":
                if pieces and pieces[-1].end_byte != part.start_byte:
                    self.flush(pieces, words)
                pieces.append(part)
        self.flush(pieces, words)
        items = [*words, *assigns, *(r[2:] for r in redirects)]
        if not items:
            return
        start = min(item[-2] for item in items)
        end = max(item[-1] for item in items)
        self.out.append((tuple(words), tuple(assigns), tuple(redirects), start, end, nested))
        for part in parts:
            if b"(" in part.text or b"`" in part.text:  # cheap test before descending
                self.substitutions(part)

    def check_gaps(self, parts: list[Node]) -> None:
        """tree-sitter drops some tokens without an error (`cmd - 2>&1` loses `-`): text between
        the parts of a command must be blanks or line continuations."""
        for before, after in itertools.pairwise(parts):
            gap = self.data[before.end_byte:after.start_byte]
            if gap.replace(b"\\\n", b"").strip():
                raise _Unsupported("text outside the tree")

    def flush(self, pieces: list[Node], words: list) -> None:
        if pieces:
            words.append(self.word(pieces))
            pieces.clear()

    def word(self, nodes: list[Node]) -> tuple[str, int, int]:
        start = self.span(nodes[0])[0]
        end = self.span(nodes[-1])[1]
        return "".join(self.unquote(n) for n in nodes), start, end

    def redirect(self, node: Node, words: list, redirects: list) -> None:
        if node.type == "heredoc_redirect":
            self.heredoc(node, words, redirects)
            return
        op = None
        groups: list[list] = []
        for child in node.children:
            if child.type == "file_descriptor":
                continue
            if op is None and not child.is_named:
                op = child.type
            elif groups and groups[-1][-1].end_byte == child.start_byte:
                groups[-1].append(child)
            else:
                groups.append([child])
        if op is None:
            raise _Unsupported(node.type)
        start, end = self.span(node)
        target = None
        if groups:
            first = groups.pop(0)  # tree-sitter hangs `cmd > f arg` words on the redirect
            end = self.span(first[-1])[1]
            if not (op in (">&", "<&") and len(first) == 1 and first[0].type == "number"):
                target = self.word(first)
        for group in groups:
            words.append(self.word(group))
        redirects.append((_CLOSE_OPS.get(op, op), target, start, end))

    def heredoc(self, node: Node, words: list, redirects: list) -> None:
        op, target, start = None, None, self.span(node)[0]
        for child in node.children:
            kind = child.type
            if kind in ("<<", "<<-"):
                op = kind
            elif kind == "heredoc_start":
                s, e = self.span(child)
                raw = self.text[s:e]
                target = (re.sub(r"[\"'\\]", "", raw), s, e)
                redirects.append((op, target, start, e))
            elif kind in _REDIRECTS:
                self.redirect(child, words, redirects)
            elif kind not in ("heredoc_body", "heredoc_end"):
                raise _Unsupported(kind)  # `cat <<EOF | sh`: a pipeline inside the redirect
        if target is None:
            raise _Unsupported("heredoc without a delimiter")

    # -- quote removal ------------------------------------------------------------------------

    def unquote(self, node: Node) -> str:
        start, end = self.span(node)
        raw = self.text[start:end]
        if "\\" not in raw and "'" not in raw and '"' not in raw:
            return raw
        kind = node.type
        if kind in _VERBATIM:
            return raw.replace("\\\n", "")  # bash drops line continuations everywhere
        if kind == "raw_string":
            return raw[1:-1]
        if kind == "string":
            return self.double_quoted(node, start, end)
        if kind == "ansi_c_string":
            return re.sub(r"\\(.)", lambda m: _ANSI_C.get(m[1], m[0]), raw[2:-1], flags=re.S)
        if node.child_count == 0:
            return _unescape(raw)
        out: list[str] = []
        at = start
        for child in node.children:
            child_start, child_end = self.span(child)
            out.append(_unescape(self.text[at:child_start]))
            out.append(self.unquote(child))
            at = child_end
        out.append(_unescape(self.text[at:end]))
        return "".join(out)

    def double_quoted(self, node: Node, start: int, end: int) -> str:
        out: list[str] = []
        at = start + 1
        for child in node.children:
            if child.type in _VERBATIM:
                child_start, child_end = self.span(child)
                out.append(_dq_unescape(self.text[at:child_start]))
                out.append(self.text[child_start:child_end].replace("\\\n", ""))
                at = child_end
        out.append(_dq_unescape(self.text[at:end - 1]))
        return "".join(out)


def _flat_children(node: Node) -> list[Node]:
    """The statements of a list or pipeline. `a && b && c` nests one list per operator
    (left-deep), so a 1,000-command chain would be 1,000 levels of recursion: nested lists
    and pipelines of the same kind are flattened here, iteratively."""
    out: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        named = [c for c in current.children if c.is_named and c.type != "comment"]
        if current is not node and current.type != node.type:
            out.append(current)
            continue
        if current is not node and node.type == "negated_command":
            out.append(current)
            continue
        stack.extend(reversed(named))
    return out


def _test_leaves(node: Node) -> list[Node]:
    """The words of `[ ... ]`: tree-sitter parses it as an expression, bash as a command."""
    leaves: list[Node] = []
    for child in node.children:
        if child.type in _TEST_EXPRESSIONS:
            leaves.extend(_test_leaves(child))
        else:
            leaves.append(child)
    return leaves


def _unescape(raw: str) -> str:
    """Unquoted backslashes: `\\x` is x, backslash-newline is a line continuation."""
    if "\\" not in raw:
        return raw
    return re.sub(r"\\(.)", lambda m: "" if m[1] == "\n" else m[1], raw, flags=re.S)


def _dq_unescape(raw: str) -> str:
    """Inside double quotes a backslash escapes only $ ` " \\ and newline."""
    if "\\" not in raw:
        return raw
    return re.sub(r'\\([$`"\\\n])', lambda m: "" if m[1] == "\n" else m[1], raw)


_OPERATORS = lazy_compile(r"&&|\|\||[;|&()\n]")


def _fallback(text: str) -> list[_Rel]:
    """Split on shell operators outside quotes; words by whitespace with quotes removed."""
    commands: list[_Rel] = []
    words: list[tuple[str, int, int]] = []
    redirects: list = []
    i, n = 0, len(text)
    start = 0

    def flush(end: int) -> None:
        nonlocal words, redirects, start
        assigns = []
        while words and _is_assignment(words[0][0]):
            assigns.append(words.pop(0))
        if words or assigns:
            commands.append((tuple(words), tuple(assigns), tuple(redirects), start, end, False))
        words, redirects = [], []

    while i < n:
        char = text[i]
        if char.isspace() and char != "\n":
            i += 1
            continue
        if char == "\\" and i + 1 < n and text[i + 1] == "\n":
            i += 2
            continue
        if char == "#" and (i == 0 or text[i - 1].isspace()):
            while i < n and text[i] != "\n":
                i += 1
            continue
        op = _OPERATORS.match(text, i)
        if op:
            flush(i)
            i = op.end()
            start = i
            continue
        if char in "<>":
            j = i
            while j < n and text[j] in "<>&0123456789":
                j += 1
            end, value = _fallback_word(text, j)
            target = (value, j, end) if value else None
            redirects.append((text[i:j], target, i, end))
            i = end
            continue
        end, value = _fallback_word(text, i)
        if not words:
            start = i if not words else start
        words.append((value, i, end))
        i = max(end, i + 1)
    flush(n)
    return commands


def _fallback_word(text: str, i: int) -> tuple[int, str]:
    n = len(text)
    while i < n and text[i] in " \t":
        i += 1
    out: list[str] = []
    quote = ""
    while i < n:
        char = text[i]
        if quote:
            if char == quote:
                quote = ""
            else:
                out.append(char)
        elif char in "\"'":
            quote = char
        elif char.isspace() or char in ";|&()<>":
            break
        elif char == "\\" and i + 1 < n:
            i += 1
            out.append(text[i])
        else:
            out.append(char)
        i += 1
    return i, "".join(out)
