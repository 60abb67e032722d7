"""SH006: a RUN script that the shell parser cannot read (checked with a fallback split)."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.shell import scripts_of
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class ShellParseError(Rule):
    """Note RUN scripts that bashlex cannot parse; they are checked with a simpler split.

    ## What it does
    Every RUN (shell form, heredoc bodies, `sh -c` strings) is parsed with a real shell
    parser. When that fails (an unbalanced quote, a construct the parser does not know),
    this info finding points at the place, and the other rules still check the commands
    found by a quote-aware fallback split.

    ## Why it matters
    An unbalanced quote or a stray `)` often means the build fails; it also means the
    other findings for this RUN are less precise.

    ## Example
    ```dockerfile
    RUN pip install "transformers==4.35.1 && python -c 'import torch'
    ```

    ## Fix
    Balance the quotes/parentheses, or split the command into simpler steps.

    ```dockerfile
    RUN pip install "transformers==4.35.1" && python -c 'import torch'
    ```
    """

    id = "SH006"
    name = "shell-parse-error"
    category = "shell-bug"
    severity = "info"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for inst in ctx.dockerfile.instructions:
            if inst.keyword not in ("RUN", "CMD", "ENTRYPOINT"):
                continue
            for script in scripts_of(inst):
                if script.kind != "shell" or script.problem is None:
                    continue
                # bashlex's error position depends on its state from earlier parses, so the
                # finding covers the script's first line, which is stable.
                start = script.offset
                end = start
                while end < len(ctx.source.text) and ctx.source.text[end] not in "\n":
                    end += 1
                yield self.at(ctx, start, end, script.problem,
                              fix_hint="check quotes and parentheses in this command")
