"""DL001: a RUN that downloads weights or datasets from a hub without a pinned revision."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from carpenter.core.lazyre import lazy_compile
from carpenter.model.copies import context_source, cwd_for
from carpenter.model.dockerfile import Instruction
from carpenter.model.shell import PYTHONS, Script, SimpleCommand, scripts_of
from carpenter.scan.context import ScanContext
from carpenter.scan.downloads import SHA40, hub_calls, hub_fix_hint
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import Download
from carpenter.scan.pyscripts import ScriptDownload, code_downloads, script_downloads
from carpenter.scan.registry import Rule

HF_CLIS = frozenset({"huggingface-cli", "hf"})


class BuildTimeModelDownload(Rule):
    """Report weights and datasets fetched from a hub at build time without a fixed revision.

    ## What it does
    - `huggingface-cli download <repo>` / `hf download <repo>` without `--revision <commit>`;
    - `snapshot_download`, `hf_hub_download`, `from_pretrained("org/name")`, `load_dataset`,
      `torch.hub.load`, `nltk.download`, urllib/requests/wget fetches and `subprocess`/`os.system`
      calls of wget, curl, `gsutil`... in `python -c`, in Python heredocs, and in a script the
      RUN executes when it is in the build context: the script is parsed (never run), its local
      imports followed two levels deep, and repo ids resolved through literals, module constants,
      parameter defaults and argparse defaults (overridden by the RUN's own `--option value`);
      the finding sits on the RUN, its data names the script file and line;
    - lit-gpt's `python scripts/download.py --repo_id <org>/<model>`, from the command line alone
      (the script is often a submodule missing from the context);
    - `git clone https://huggingface.co/<org>/<model>` (and `/datasets/...`): weights through
      git-lfs from the moving main branch, unless a commit is checked out;
    - cloud copies: `gsutil cp gs://...`, `aws s3 cp|sync s3://...`, `gcloud storage cp`,
      `azcopy copy`, `s5cmd`, `rclone`;
    - `git lfs pull` unless a commit is checked out (unpinned clones themselves are GIT001's).
    A Hub download pinned to a 40-character commit sha is fine. Hints say when a repository is
    gated (carpenter/data/gated_models.toml) and so needs a token at build time.

    ## Why it matters
    A Hub repository's `main` moves: the image built next month holds other weights or another
    tokenizer than the one that was evaluated, and gated or deleted repositories make the build
    fail outright. Large downloads also make builds slow and flaky.

    ## Example
    ```dockerfile
    RUN huggingface-cli download meta-llama/Llama-2-7b-hf --local-dir /models/llama
    RUN python download.py   # calls snapshot_download("mistralai/Mistral-7B-v0.1")
    ```

    ## Fix
    Pin the revision to a commit, or download at run time into a mounted volume; pass the token
    of a gated repository as a build secret:
    ```dockerfile
    RUN --mount=type=secret,id=hf_token,env=HF_TOKEN huggingface-cli download \\
        meta-llama/Llama-2-7b-hf --revision 8cca527612d856d7d32bd94f8103728d614eb852 \\
        --local-dir /models/llama
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
        span = (words[0].offset, words[-1].end_offset)
        if name in HF_CLIS and "download" in argv[1:3]:
            index = argv.index("download")
            repo = _first_positional(argv[index + 1:])
            if repo is None:
                return  # no repository named (a `<placeholder>` redirect is SH002's)
            revision = _option(argv, "--revision")
            if revision is None or not SHA40.fullmatch(revision):
                yield self.at(ctx, *span,
                              f"`{name} download {repo or ''}` fetches the repository's moving "
                              f"{revision or 'main'} branch at build time",
                              fix_hint=hub_fix_hint(repo, "--revision <40-character commit sha>"),
                              payload=Download(repo=repo, revision=revision))
            return
        copy = _cloud_copy(argv)
        if copy is not None:
            yield self.at(ctx, *span,
                          f"`{copy}` copies objects from cloud storage at build time: the "
                          "bucket's content can change or vanish, and the build needs credentials",
                          fix_hint="ship the files with the submission, or fetch them at run time "
                                   "into a mounted volume",
                          payload=Download(source_url=_cloud_source(argv)))
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
            if script is None:
                return
            repo = _option(argv, "--repo_id") or _option(argv, "--repo-id")
            if repo is not None:
                yield from self._repo_option(ctx, span, script, argv, repo)
                return
            yield from self._script(ctx, inst, cmd, span, script, argv)

    def _repo_option(self, ctx: ScanContext, span: tuple[int, int], script: str,
                     argv: list[str], repo: str):
        """lit-gpt style `python scripts/download.py --repo_id org/model`: the command line says
        it all, whether or not the script is in the context (often a submodule)."""
        revision = _option(argv, "--revision")
        if revision is not None and SHA40.fullmatch(revision):
            return
        token = " with an --access_token on the command line" \
            if _option(argv, "--access_token") is not None else ""
        yield self.at(ctx, *span,
                      f"`{script} --repo_id {repo}` downloads the repository's moving "
                      f"{revision or 'main'} branch at build time{token}",
                      fix_hint=hub_fix_hint(repo, "--revision <40-character commit sha>"),
                      payload=Download(repo=repo, revision=revision, function=script))

    def _code(self, ctx: ScanContext, code: str, offset: int, where: str):
        found = code_downloads(code, where)
        if found is None:  # not valid Python (a template, a fragment): the regex pass
            yield from self._code_regex(ctx, code, offset, where)
            return
        for download in found:
            if not download.pinned:
                yield self._download(ctx, download, where, (offset + download.start,
                                                            offset + download.end))

    def _code_regex(self, ctx: ScanContext, code: str, offset: int, where: str):
        for call in hub_calls(code):
            if call.pinned:
                continue
            download = ScriptDownload(call.fn, call.repo, call.revision, where, 0, "hub")
            yield self._download(ctx, download, where, (offset + call.start, offset + call.end))

    def _download(self, ctx: ScanContext, download: ScriptDownload, where: str,
                  span: tuple[int, int], place: str = "", script: str | None = None,
                  script_line: int | None = None, script_path: str | None = None) -> Finding:
        what = f"{download.fn}({download.target!r})" if download.target \
            else f"{download.fn}(...)"
        if download.kind == "hub":
            rev = f"revision {download.revision!r}" if download.revision else "no revision"
            return self.at(ctx, *span,
                           f"{what} in {where}{place} downloads at build time with {rev}: the "
                           "content follows the repository's main branch",
                           fix_hint=hub_fix_hint(download.target),
                           payload=Download(repo=download.target, revision=download.revision,
                                            function=download.fn, script=script,
                                            script_line=script_line, script_path=script_path))
        hint = {"nltk": "ship the nltk_data folder with the submission, or download at run time",
                "torch-hub": "pin the repository to a commit (`owner/repo:<sha>`), or ship the "
                             "weights with the submission",
                }.get(download.kind, "ship the file with the submission (with a checksum), or "
                                     "download at run time into a mounted volume")
        return self.at(ctx, *span,
                       f"{what} in {where}{place} downloads at build time: what it fetches can "
                       "change or vanish", fix_hint=hint,
                       payload=Download(function=download.fn, target=download.target,
                                        script=script, script_line=script_line,
                                        script_path=script_path))

    def _script(self, ctx: ScanContext, inst: Instruction, cmd: SimpleCommand,
                span: tuple[int, int], path: str, argv: list[str]):
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

        def read_local(rel: str) -> str | None:
            local = ctx.context_file(rel)
            return local.text if local is not None else None

        where = f"the script {path!r} this RUN executes"
        options = argv[argv.index(path) + 1:] if path in argv else []
        for download in script_downloads(found.rel, source.text, read_local, options):
            if download.pinned:
                continue
            place = f" ({download.rel}, line {download.line})"
            script = ctx.context_file(download.rel)
            yield self._download(ctx, download, where, span, place, script=download.rel,
                                 script_line=download.line,
                                 script_path=script.path if script is not None else None)

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
            span = (words[0].offset, words[-1].end_offset)
            if argv[1] == "lfs" and argv[2] in ("pull", "fetch") and not checks_out_commit:
                yield self.at(ctx, *span,
                              "`git lfs pull` downloads large files at build time from whatever "
                              "commit the clone is on", fix_hint="check out a commit sha first",
                              payload=Download())
            repo = _hub_clone(argv)
            if repo is not None and not checks_out_commit:
                yield self.at(ctx, *span,
                              f"`git clone` of the Hub repository {repo} downloads its weights "
                              "through git-lfs (often tens of GB) at build time, from the moving "
                              "main branch", fix_hint=hub_fix_hint(
                                  repo.removeprefix("datasets/"),
                                  "--revision <sha> to `huggingface-cli download` instead (or "
                                  "`git checkout <sha>` after the clone)"),
                              payload=Download(repo=repo))


_HUB_CLONE = lazy_compile(r"(?i)^(?:https?://)?(?:[^@/]+@)?(?:huggingface\.co|hf\.co)/"
                        r"(?P<repo>(?:datasets/|spaces/)?[\w.\-]+/[\w.\-]+?)(?:\.git)?/?$")
CLOUD_COPIES = (("gsutil", ("cp", "rsync")), ("gcloud", ("storage",)), ("aws", ("s3",)),
                ("azcopy", ("copy", "cp", "sync")), ("s5cmd", ("cp", "sync")),
                ("rclone", ("copy", "sync")))
_REMOTE = lazy_compile(r"(?i)^(?:gs|s3|az|wasbs?)://|^https://[\w.\-]+\.(?:blob\.core\.windows"
                     r"\.net|s3[\w.\-]*\.amazonaws\.com|storage\.googleapis\.com)/|^\w+:[^/]")


def _hub_clone(argv: list[str]) -> str | None:
    if argv[1] != "clone":
        return None
    for arg in argv[2:]:
        match = _HUB_CLONE.match(arg)
        if match:
            return match.group("repo")
    return None


def _cloud_copy(argv: list[str]) -> str | None:
    """`gsutil cp gs://...`, `aws s3 cp s3://...`, `gcloud storage cp`, `azcopy copy`: the
    command name when one copies *from* remote storage."""
    name = argv[0].rsplit("/", 1)[-1]
    args = [a for a in argv[1:] if not a.startswith("-")]
    for tool, verbs in CLOUD_COPIES:
        if name != tool or not args or args[0] not in verbs:
            continue
        rest = args[1:]
        if tool in ("gcloud", "aws"):
            if not rest or rest[0] not in ("cp", "rsync", "sync"):
                return None
            rest = rest[1:]
        if rest and _REMOTE.match(rest[0]) and not (tool == "rclone" and len(rest) < 2):
            return " ".join(argv[:1] + args[:len(args) - len(rest)])
    return None


def _cloud_source(argv: list[str]) -> str | None:
    return next((a for a in argv[1:] if _REMOTE.match(a)), None)


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
