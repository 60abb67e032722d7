"""CTX010: a .dockerignore that Docker refuses."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.core.errors import InputError
from carpenter.model.source import SourceFile, read_source
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class DockerignoreInvalid(Rule):
    """Report `.dockerignore` lines that make `docker build` fail.

    ## What it does
    Parses the context's `.dockerignore` the way the Docker CLI does and reports lines Docker
    rejects, such as a lone `!`.

    ## Why it matters
    The build stops before it starts with "illegal exclusion pattern".

    ## Example
    ```
    *.bin
    !
    ```

    ## Fix
    Delete the line or complete the exception (`!keep.bin`).

    ```text
    *.bin
    !keep.bin
    ```
    """

    id = "CTX010"
    name = "dockerignore-invalid"
    category = "host-local-artifact"
    severity = "error"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        context = ctx.build_context
        if context is None or context.ignore_error is None:
            return
        error = context.ignore_error
        try:
            source = read_source(error.path or "", ctx.display(error.path or ""))
        except InputError:
            source = SourceFile(ctx.display(error.path or ".dockerignore"), "")
        line = error.line or 1
        start = source.offset_of(line)
        end = start + len(source.line_text(line))
        yield self.at(ctx, start, end, error.message, source=source,
                      fix_hint="delete the line or complete the exception")
