"""SH003: an inline `#` comment in a continued RUN swallows the lines after it."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.dockerfile import Instruction
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


def comment_start(args: str) -> int | None:
    """Index of the first unquoted `#` that starts a shell comment, or None."""
    if "#" not in args:
        return None  # most RUNs: no need to walk the quoting character by character
    quote = ""
    i = 0
    while i < len(args):
        char = args[i]
        if quote:
            if char == "\\" and quote == '"':
                i += 2
                continue
            if char == quote:
                quote = ""
        elif char == "\\":
            i += 2
            continue
        elif char in "\"'":
            quote = char
        elif char == "#" and (i == 0 or args[i - 1] in " \t\n;&|("):
            return i
        i += 1
    return None


class CommentCutsCommand(Rule):
    """Flag a `#` comment inside a RUN continued with backslashes: the rest is never run.

    ## What it does
    Docker joins `\\`-continued lines into one shell line before the shell sees it. An
    inline `# comment` on one of those lines therefore comments out everything after it,
    on all following lines of the instruction. The rule reports such comments with the
    words that are silently dropped.

    ## Why it matters
    `pip install torch==2.1.0 # GPU build \\` followed by `transformers==4.35.1` installs torch
    only; the build succeeds and the container fails at import time.

    ## Example
    ```dockerfile
    RUN pip install torch==2.1.0 # pinned for CUDA 12.1 \\
        transformers==4.35.1
    ```

    ## Fix
    Move the comment onto its own line above the RUN (whole-line comments inside a
    continuation are removed by Docker), or drop it.

    ```dockerfile
    # torch pinned for CUDA 12.1
    RUN pip install torch==2.1.0 \\
        transformers==4.35.1
    ```
    """

    id = "SH003"
    name = "comment-cuts-command"
    category = "shell-bug"
    severity = "error"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for inst in ctx.dockerfile.instructions:
            if inst.keyword not in ("RUN", "CMD", "ENTRYPOINT") or inst.json_args is not None:
                continue
            finding = self._check(ctx, inst)
            if finding is not None:
                yield finding

    def _check(self, ctx: ScanContext, inst: Instruction) -> Finding | None:
        at = comment_start(inst.args)
        if at is None:
            return None
        source = ctx.source
        start = inst.args_offset + at
        line, _ = source.position(start)
        line_end = source.offset_of(line) + len(source.line_text(line))
        cut = inst.args[line_end - inst.args_offset:].split() if line_end > start else []
        if not cut:
            return None
        shown = " ".join(cut)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        comment_end = line_end
        return self.at(
            ctx, start, comment_end,
            f"this # comment runs to the end of the joined RUN line: `{shown}` on the "
            "following lines is never executed",
            fix_hint="move the comment to its own line above the instruction",
            dropped=" ".join(cut),
        )
