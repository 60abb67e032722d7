"""`git clone` commands and the commit checkouts that follow them."""

from __future__ import annotations

import posixpath

from carpenter.core.lazyre import lazy_compile
from carpenter.core.records import record
from carpenter.model.copies import cwd_for
from carpenter.model.dockerfile import Instruction, Stage
from carpenter.model.shell import SimpleCommand, Word, all_commands
from carpenter.model.variables import expand, has_variables

SHA_40 = lazy_compile(r"^[0-9a-fA-F]{40}$")
TAG_LIKE = lazy_compile(r"^(?:v|release-|rel-)?\d+(?:\.\d+)+(?:[-.+]?[A-Za-z0-9.]+)?$")
CLONE_VALUE_OPTIONS = frozenset(
    {"-b", "--branch", "--depth", "-o", "--origin", "--reference", "--reference-if-able",
     "--separate-git-dir", "-c", "--config", "--filter", "-j", "--jobs", "--shallow-since",
     "--shallow-exclude", "--template", "-u", "--upload-pack", "--server-option", "--bundle-uri",
     "--revision"}
)
GIT_GLOBAL_VALUE = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace"})
PIN_VERBS = frozenset({"checkout", "switch", "reset", "fetch", "restore"})


def is_tag_like(ref: str | None) -> bool:
    if not ref:
        return False
    if ref.startswith(("tags/", "refs/tags/")):
        return True
    return TAG_LIKE.match(ref) is not None


@record(eq=False, slots=True)
class GitCall:
    """`git [-C dir] VERB args...` with the directory it runs in."""

    inst: Instruction
    command: SimpleCommand
    verb: str
    args: list[Word]
    directory: str  # absolute in-image directory
    position: int = 0  # index in the stage's list of git calls


@record(eq=False, slots=True)
class Clone:
    """A `git clone` of a RUN command, with the ref it checks out and where."""

    call: GitCall
    url: Word
    url_text: str
    branch: str | None  # -b/--branch value
    target: str  # absolute in-image directory of the clone
    revision: str | None = None  # `--revision=<sha>` (git 2.49+)


def git_calls(stage: Stage) -> list[GitCall]:
    """Every git command of a stage's RUNs, in order, with its working directory."""
    calls: list[GitCall] = []
    for inst in stage.instructions:
        if inst.keyword != "RUN":
            continue
        for script, cmd in all_commands(inst):
            if script.kind != "shell":
                continue
            call = _git_call(inst, cmd, len(calls))
            if call is not None:
                calls.append(call)
    return calls


def _git_call(inst: Instruction, cmd: SimpleCommand, position: int) -> GitCall | None:
    words, _ = cmd.effective()
    if not words or words[0].text.rsplit("/", 1)[-1] != "git":
        return None
    directory = cwd_for(inst, cmd)
    i = 1
    while i < len(words) and words[i].text.startswith("-"):
        if words[i].text == "-C" and i + 1 < len(words):
            directory = posixpath.normpath(posixpath.join(directory, _expand(words[i + 1], inst)))
        i += 2 if words[i].text in GIT_GLOBAL_VALUE else 1
    if i >= len(words):
        return None
    return GitCall(inst, cmd, words[i].text, words[i + 1 :], directory, position)


def clone_of(call: GitCall) -> Clone | None:
    if call.verb != "clone":
        return None
    positional: list[Word] = []
    branch = revision = None
    args = call.args
    i = 0
    while i < len(args):
        text = args[i].text
        if text.startswith("-"):
            name, eq, value = text.partition("=")
            takes = name in CLONE_VALUE_OPTIONS and not eq
            if name in ("-b", "--branch"):
                branch = value if eq else (args[i + 1].text if i + 1 < len(args) else None)
            if name == "--revision":
                revision = value if eq else (args[i + 1].text if i + 1 < len(args) else None)
            i += 2 if takes else 1
            continue
        positional.append(args[i])
        i += 1
    if not positional:
        return None
    url = positional[0]
    url_text = _expand(url, call.inst)
    if len(positional) > 1:
        name = _expand(positional[1], call.inst)
    else:
        name = url_text.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        name = name[:-4] if name.endswith(".git") else name
    target = posixpath.normpath(posixpath.join(call.directory, name or "."))
    if branch is not None:
        branch = expand(branch, call.inst.vars)[0] if has_variables(branch) else branch
    if revision is not None:
        revision = expand(revision, call.inst.vars)[0] if has_variables(revision) else revision
    return Clone(call, url, url_text, branch or None, target, revision)


def checkouts_after(
    calls: list[GitCall], clone: Clone, index: dict[str, list[int]] | None = None
) -> list[str]:
    """Refs checked out (or fetched/reset) inside the clone after it was made.

    Pass `pin_index(calls)` when checking many clones of the same stage.
    """
    index = pin_index(calls) if index is None else index
    position = clone.call.position
    refs: list[str] = []
    for i in index.get(clone.target, ()):
        if i > position:
            refs.extend(_expand(word, calls[i].inst) for word in calls[i].args
                        if not word.text.startswith("-"))
    return refs


def pin_index(calls: list[GitCall]) -> dict[str, list[int]]:
    """Directory (and each of its parents) -> positions of checkout-like calls run inside it."""
    index: dict[str, list[int]] = {}
    for i, call in enumerate(calls):
        if call.verb not in PIN_VERBS:
            continue
        directory = call.directory
        while True:
            index.setdefault(directory, []).append(i)
            parent = posixpath.dirname(directory)
            if parent == directory or not parent:
                break
            directory = parent
    return index


def _expand(word: Word, inst: Instruction) -> str:
    return expand(word.text, inst.vars)[0] if has_variables(word.text) else word.text
