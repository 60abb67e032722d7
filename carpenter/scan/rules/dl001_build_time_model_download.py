"""DL001: a RUN that downloads weights or datasets from a hub without a pinned revision."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from carpenter.model.copies import context_source, cwd_for
from carpenter.model.dockerfile import Instruction
from carpenter.model.shell import PYTHONS, Script, SimpleCommand, scripts_of
from carpenter.scan.context import ScanContext
from carpenter.scan.downloads import SHA40, hub_calls
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule

HF_CLIS = frozenset({"huggingface-cli", "hf"})


class BuildTimeModelDownload(Rule):
    """Report weights and datasets fetched from a hub at build time without a fixed revision.

    ## What it does
    - `huggingface-cli download <repo>` / `hf download <repo>` without `--revision <commit>`;
    - `snapshot_download`, `hf_hub_download`, `from_pretrained("org/name")`, `load_dataset`,
      `torch.hub.load` in `python -c`, in Python heredocs, and in a script the RUN executes
      when that script is in the build context (found through COPY/ADD and WORKDIR);
    - `git lfs pull` unless a commit is checked out (unpinned clones themselves are GIT001's).
    A download pinned to a 40-character commit sha is fine.

    ## Why it matters
    A Hub repository's `main` moves: the image built next month holds other weights or another
    tokenizer than the one that was evaluated, and gated or deleted repositories make the build
    fail outright. Large downloads also make builds slow and flaky.

    ## Example
    ```dockerfile
    RUN huggingface-cli download meta-llama/Llama-2-7b-hf --local-dir /models/llama
    ```

    ## Fix
    Pin the revision to a commit (`--revision 8cca527612d856d7d32bd94f8103728d614eb852`,
    `revision="<sha>"`), or ship the weights with the submission.

    ```dockerfile
    RUN huggingface-cli download meta-llama/Llama-2-7b-hf \\
            --revision 8cca527612d856d7d32bd94f8103728d614eb852 --local-dir /models/llama
    ```
    """

    id = "DL001"
    name = "build-time-model-download"
    category = "build-time-download"
    fixable = True  # carpenter fix adds --revision/revision= when the snapshot knows the repo
    severity = "warning"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for inst in ctx.dockerfile.instructions:
            if inst.keyword != "RUN":
                continue
            for script in scripts_of(inst):
                if script.kind == "python":
                    yield from self._code(ctx, script.text, script.offset, "a Python heredoc")
                    continue
                if script.kind != "shell":
                    continue
                yield from self._git(ctx, script)
                for cmd in script.commands:
                    yield from self._command(ctx, inst, cmd)

    def _command(self, ctx: ScanContext, inst: Instruction, cmd: SimpleCommand):
        words, _ = cmd.effective()
        argv = [w.text for w in words]
        if not argv:
            return
        name = argv[0].rsplit("/", 1)[-1]
        if name in HF_CLIS and "download" in argv[1:3]:
            index = argv.index("download")
            repo = _first_positional(argv[index + 1:])
            if repo is None:
                return  # no repository named (a `<placeholder>` redirect is SH002's)
            revision = _option(argv, "--revision")
            if revision is None or not SHA40.fullmatch(revision):
                yield self.at(ctx, words[0].offset, words[-1].end_offset,
                              f"`{name} download {repo or ''}` fetches the repository's moving "
                              f"{revision or 'main'} branch at build time",
                              fix_hint="add --revision <40-character commit sha>",
                              repo=repo, revision=revision)
            return
        if PYTHONS.match(name):
            if "-c" in argv[1:]:
                at = argv.index("-c", 1)
                if at + 1 < len(words):
                    code = words[at + 1]
                    start = code.offset + (1 if code.raw[:1] in "\"'" else 0)
                    yield from self._code(ctx, code.text, start, "python -c")
                return
            script = _script_argument(argv)
            if script is not None:
                yield from self._script(ctx, inst, cmd, words, script)

    def _code(self, ctx: ScanContext, code: str, offset: int, where: str,
              anchor: tuple[int, int] | None = None, source_name: str | None = None):
        for call in hub_calls(code):
            if call.pinned:
                continue
            what = call.repo or "a repository"
            rev = f"revision {call.revision!r}" if call.revision else "no revision"
            place = f" ({source_name}, line {code.count(chr(10), 0, call.start) + 1})" \
                if source_name else ""
            start, end = anchor or (offset + call.start, offset + call.end)
            yield self.at(ctx, start, end,
                          f"{call.fn}({what!r}) in {where}{place} downloads at build time with "
                          f"{rev}: the content follows the repository's main branch",
                          fix_hint='pass revision="<40-character commit sha>"',
                          repo=call.repo, revision=call.revision, function=call.fn)

    def _script(self, ctx: ScanContext, inst: Instruction, cmd: SimpleCommand, words, path: str):
        context = ctx.build_context
        if context is None:
            return
        cwd = cwd_for(inst, cmd)
        found = context_source(inst, posixpath.join(cwd, path), cwd,
                               lambda rel: _is_dir(context, rel))
        if found is None or found.rel is None:
            return
        source = ctx.context_file(found.rel)  # never through a link leading outside
        if source is None:
            return
        anchor = (words[0].offset, words[-1].end_offset)
        yield from self._code(ctx, source.text, 0, f"the script {path!r} this RUN executes",
                              anchor=anchor, source_name=found.rel)

    def _git(self, ctx: ScanContext, script: Script):
        commands = [c.effective()[0] for c in script.commands]
        argvs = [[w.text for w in words] for words in commands]
        checks_out_commit = any(
            len(a) > 2 and a[0] == "git" and ("checkout" in a or "reset" in a)
            and any(SHA40.fullmatch(x) for x in a)
            for a in argvs)
        for words, argv in zip(commands, argvs, strict=True):
            if len(argv) < 3 or argv[0] != "git":
                continue
            if argv[1] == "lfs" and argv[2] in ("pull", "fetch") and not checks_out_commit:
                yield self.at(ctx, words[0].offset, words[-1].end_offset,
                              "`git lfs pull` downloads large files at build time from whatever "
                              "commit the clone is on", fix_hint="check out a commit sha first")


_VALUED = frozenset({"--local-dir", "--cache-dir", "--revision", "--repo-type", "--include",
                     "--exclude", "--token", "--max-workers", "--local-dir-use-symlinks"})


def _first_positional(args: list[str]) -> str | None:
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _VALUED:
            skip = True
        elif not arg.startswith("-"):
            return None if arg.startswith(("/", ".", "~")) else arg  # a path is no repo id
    return None


def _option(argv: list[str], name: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _script_argument(argv: list[str]) -> str | None:
    index = 1
    while index < len(argv) and argv[index].startswith("-"):
        if argv[index] == "-m" and index + 1 < len(argv):
            return argv[index + 1].replace(".", "/") + ".py"
        index += 1
    if index < len(argv) and argv[index].endswith(".py"):
        return argv[index]
    return None


def _is_dir(context, rel: str) -> bool | None:
    import os

    path = context.fs_path(rel)
    return os.path.isdir(path) if os.path.exists(path) else None
