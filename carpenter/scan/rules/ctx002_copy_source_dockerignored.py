"""CTX002: a COPY/ADD source that exists but .dockerignore keeps out of the context."""

from __future__ import annotations

import os
from collections.abc import Iterator

from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class CopySourceDockerignored(Rule):
    """Report COPY/ADD sources that exist on disk but are excluded by `.dockerignore`.

    ## What it does
    Applies the context's `.dockerignore` (or `<Dockerfile>.dockerignore`, which BuildKit
    prefers) with Docker's own matching rules (`**`, `!` exceptions, order, leading `/`) to
    every file a COPY/ADD names and reports the pattern line that excludes it.

    ## Why it matters
    The file is on your disk, so the mistake is invisible locally until `docker build` says
    "not found in build context or excluded by .dockerignore".

    ## Example
    ```dockerfile
    # .dockerignore: *.bin
    COPY adapter_model.bin /app/
    ```

    ## Fix
    Add an exception after the excluding line (`!adapter_model.bin`) or stop copying the file.

    ```text
    # .dockerignore
    *.bin
    !adapter_model.bin
    ```
    """

    id = "CTX002"
    name = "copy-source-dockerignored"
    category = "host-local-artifact"
    severity = "error"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        context = ctx.build_context
        if context is None or not context.ignore.patterns:
            return
        ignore_name = os.path.basename(context.ignore.path or ".dockerignore")
        for source in context.copy_sources(ctx.dockerfile):
            if not source.matches or source.matches == ["."]:
                continue
            excluded = [(m, context.excluded_by(m)) for m in source.matches]
            hits = [(m, p) for m, p in excluded if p is not None]
            if not hits or len(hits) < len(excluded):
                continue  # a wildcard that still matches something is fine
            path, pattern = hits[0]
            message = (f"{source.inst.keyword} source {source.text!r} exists but {ignore_name} "
                       f"line {pattern.line} ({pattern.text!r}) excludes "
                       f"{'it' if not source.is_glob else 'every match'} from the build context")
            yield self.at(ctx, source.offset, source.end_offset, message,
                          fix_hint=f"add `!{path}` after line {pattern.line} of {ignore_name}, "
                                   "or drop the COPY",
                          source_path=path, ignore_line=pattern.line)
