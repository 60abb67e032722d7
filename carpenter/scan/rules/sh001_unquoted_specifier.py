"""SH001: an unquoted version specifier that the shell turns into a redirect."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.shell import all_commands
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import PipPin
from carpenter.scan.registry import Rule


class UnquotedSpecifierRedirect(Rule):
    """Flag `pip install torch>=2.0.1` without quotes: the shell reads `>` as a redirect.

    ## What it does
    Finds redirects that start right after a word with no space between them and whose
    target starts with `=` or a digit (`torch>=2.0.1`, `numpy<2`, `peft>0.5`). The shell
    splits such a word into the package name and a redirect.

    ## Why it matters
    `pip install torch>=2.0.1` installs *any* torch and writes pip's output into a file
    named `=2.0.1`; `numpy<2` tries to read a file named `2` and the build fails. The
    Dockerfile looks pinned to a reader and to linters that do not parse the shell.

    ## Example
    ```dockerfile
    RUN pip install torch>=2.0.1 transformers<4.36
    ```

    ## Fix
    Quote the requirement (`"torch==2.1.0"`) and pin an exact version.

    ```dockerfile
    RUN pip install "torch==2.1.0" "transformers==4.35.1"
    ```
    """

    id = "SH001"
    name = "unquoted-specifier-redirect"
    category = "shell-bug"
    severity = "error"
    fixable = True  # carpenter fix pins (and so un-breaks) pip requirements written this way

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        text = ctx.source.text
        for inst in ctx.dockerfile.instructions:
            if inst.keyword != "RUN":
                continue
            for script, cmd in all_commands(inst):
                if script.kind != "shell" or script.via == "exec":
                    continue
                by_end = {w.end_offset: w for w in cmd.words}
                for redirect in cmd.redirects:
                    target = redirect.target
                    if redirect.op not in (">", ">>", "<") or target is None:
                        continue
                    word = by_end.get(redirect.offset)
                    if word is None or not target.text[:1] or target.text[0] not in "=0123456789":
                        continue
                    written = text[word.offset:target.end_offset]
                    effect = (f"reads a file named {target.text!r} (the build fails)"
                              if redirect.op == "<" else
                              f"writes the output to a file named {target.text!r}")
                    yield self.at(
                        ctx, word.offset, target.end_offset,
                        f"unquoted {written}: the shell reads {redirect.op!r} as a redirect, so "
                        f"this installs any {word.text} and {effect}",
                        fix_hint=f'quote it: "{written}" (and pin an exact version)',
                        payload=PipPin(package=word.text, requirement=written),
                    )
