"""Shell scripts inside a Dockerfile, parsed with bashlex into simple commands with file offsets.

A RUN can hold several scripts: its shell-form text, heredoc bodies, and `sh -c`/`bash -c`
strings. Every script is parsed once (cached by text), and every simple command reachable
through `&&`, `||`, `;`, pipes, subshells, `$(...)` and env prefixes is listed with the file
offsets of its words, so findings point at the physical line of the offending word.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache

from carpenter.model.dockerfile import Instruction

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ash", "/bin/sh", "/bin/bash", "/usr/bin/bash"})
PYTHONS = re.compile(r"^(?:.*/)?python(?:\d(?:\.\d+)?)?$")
# Wrappers whose arguments are another command.
WRAPPERS = frozenset({"sudo", "env", "exec", "time", "nohup", "nice", "command", "xargs", "eval"})


@dataclass(frozen=True, slots=True)
class Word:
    text: str  # after quote removal (variables not expanded)
    raw: str  # as written
    offset: int  # file offsets
    end_offset: int

    @property
    def quoted(self) -> bool:
        return any(q in self.raw for q in "\"'")


@dataclass(frozen=True, slots=True)
class Redirect:
    op: str
    target: Word | None
    offset: int
    end_offset: int


@dataclass(slots=True)
class SimpleCommand:
    words: list[Word]
    assignments: list[Word]
    redirects: list[Redirect]
    offset: int
    end_offset: int
    nested: bool = False  # inside $(...) or `...`

    @property
    def argv(self) -> list[str]:
        return [w.text for w in self.words]

    @property
    def name(self) -> str:
        return self.words[0].text if self.words else ""

    def effective(self) -> tuple[list[Word], list[Word]]:
        """Words after wrappers (`sudo`, `env A=b`, `time`...); also returns env assignments."""
        words = list(self.words)
        env = list(self.assignments)
        while words and words[0].text.rsplit("/", 1)[-1] in WRAPPERS:
            words.pop(0)
            while words and (words[0].text.startswith("-") or _is_assignment(words[0].text)):
                if _is_assignment(words[0].text):
                    env.append(words[0])
                words.pop(0)
        return words, env


@dataclass(slots=True)
class Script:
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
    return [(s, c) for s in scripts_of(inst) for c in s.commands]


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


@lru_cache(maxsize=8192)
def _parse_cached(text: str) -> tuple[tuple[_Rel, ...], str | None]:
    if not text.strip():
        return (), None
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


_OPERATORS = re.compile(r"&&|\|\||[;|&()\n]")


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
