"""DF001: a part of the Dockerfile that BuildKit's parser rejects."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class ParseError(Rule):
    """Report text that `docker build` cannot parse, with its line and column.

    ## What it does
    Runs BuildKit's own Dockerfile parser. When the file as a whole does not parse (an
    unterminated heredoc, an invalid escape directive, an empty file), the bad instruction is
    reported at its line and every other instruction is still checked.

    ## Why it matters
    The build stops before its first step. hadolint reports the error and lints nothing else,
    so the remaining problems surface one rebuild at a time.

    ## Example
    ```dockerfile
    RUN <<EOF
    pip install torch==2.1.0
    ```

    ## Fix
    Close the heredoc with its terminator on a line of its own (`EOF`), or fix the reported line.

    ```dockerfile
    RUN <<EOF
    pip install torch==2.1.0
    EOF
    ```
    """

    id = "DF001"
    name = "dockerfile-parse-error"
    category = "shell-bug"
    severity = "error"
    hadolint = ("DL1000",)

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        source = ctx.source
        for problem in ctx.dockerfile.problems:
            start = source.offset_of(problem.line, problem.column)
            last = problem.end_line or problem.line
            end = source.offset_of(last) + len(source.line_text(last))
            yield self.at(ctx, start, max(end, start), problem.message)
