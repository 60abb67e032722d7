"""GIT002: `pip install git+URL` without `@<commit>`."""

from __future__ import annotations

import re
from collections.abc import Iterator

from carpenter.model.git import is_tag_like
from carpenter.model.pip import PipRequirement, classify_requirement
from carpenter.model.requirements import RequirementsFile
from carpenter.model.shell import Word
from carpenter.model.source import SourceFile
from carpenter.scan.context import ScanContext
from carpenter.scan.facts import conda_env_uses, env_pip_files, pip_uses
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import VcsPin
from carpenter.scan.registry import Rule


class PipVcsUnpinned(Rule):
    """Flag pip VCS requirements (`git+https://...`) that do not name a 40-hex commit.

    ## What it does
    Checks VCS requirements on pip/uv command lines, in the requirements files they read and
    in the `pip:` list of an environment.yml a conda command installs
    (`git+https://github.com/huggingface/peft`, `peft @ git+https://...@main`, `-e git+...`).
    Only `@<40-hex sha>` is pinned; a branch is a warning, a tag an info finding.

    ## Why it matters
    Installing a library from its main branch was common in 2023 (peft, transformers,
    trl before releases); today the same line installs a version that needs a newer torch
    and Python.

    ## Example
    ```dockerfile
    RUN pip install git+https://github.com/huggingface/transformers
    ```

    ## Fix
    Append the tested commit: `git+https://github.com/huggingface/transformers@<sha>`, or
    use the released version with `==`.

    ```dockerfile
    RUN pip install "git+https://github.com/huggingface/transformers@<40-hex commit>"
    # or the release:
    RUN pip install transformers==4.35.1
    ```
    """

    id = "GIT002"
    name = "pip-vcs-unpinned"
    category = "unpinned-git"
    severity = "warning"
    fixable = True

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for use in pip_uses(ctx):
            for req in use.install.requirements:
                if req.kind == "vcs" and not req.pinned:
                    yield self._finding(ctx, req, None)
            for file in use.requirement_files:
                yield from self._file(ctx, file)
        yield from self._environment_files(ctx)

    def _file(self, ctx: ScanContext, file: RequirementsFile) -> Iterator[Finding]:
        for line in file.requirements:
            req = line.requirement
            if req is not None and req.kind == "vcs" and not req.pinned:
                yield self._finding(ctx, req, file.source)

    def _environment_files(self, ctx: ScanContext) -> Iterator[Finding]:
        """The `pip:` list of an environment.yml (and the `-r` files it reads)."""
        seen: set[str] = set()
        for use in conda_env_uses(ctx):
            if use.env is None or use.rel in seen:
                continue
            seen.add(use.rel)
            for entry in use.env.pip:
                if entry.text.startswith(("-r", "--requirement")):
                    for inc in env_pip_files(ctx, use, entry.text):
                        if inc.kind == "requirement" and inc.file.rel not in seen:
                            seen.add(inc.file.rel or "")
                            yield from self._file(ctx, inc.file)
                    continue
                text = re.sub(r"^(?:-e|--editable)[=\s]+", "", entry.text)
                shift = len(entry.text) - len(text)
                word = Word(text, text, entry.offset + shift, entry.end_offset)
                req = classify_requirement(text, word)
                if req.kind == "vcs" and not req.pinned:
                    yield self._finding(ctx, req, use.source)

    def _finding(self, ctx: ScanContext, req: PipRequirement, source: SourceFile | None):
        word = req.word
        start = word.offset + (1 if word.raw[:1] in "\"'" else 0)
        end = word.end_offset - (1 if word.raw[-1:] in "\"'" and len(word.raw) > 1 else 0)
        ref = req.vcs_ref
        if is_tag_like(ref):
            message = f"{req.url} is pinned to the tag {ref}: tags can move"
            severity = "info"
        else:
            moving = f"the branch {ref}" if ref else "the default branch"
            message = f"{req.url} installs {moving} as it is at build time"
            severity = None
        return self.at(
            ctx, start, end, message, source=source, severity=severity,
            fix_hint="append the commit: git+URL@<40-hex sha>",
            payload=VcsPin(url=req.url, ref=ref, package=req.name),
        )
