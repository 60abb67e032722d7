"""CTX008: a COPY/ADD source that only resolves from another build context."""

from __future__ import annotations

import os
from collections.abc import Iterator

from carpenter.model.context import classify_missing
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class CopySourceOtherContext(Rule):
    """Report COPY/ADD sources that exist, but relative to another folder than the context.

    ## What it does
    When a source is missing from the build context, looks for it relative to the Dockerfile's
    own folder and to the two folders above the context (never above the repository root) and
    names the context that would make the build work.

    ## Why it matters
    A Dockerfile in a subfolder (`docker/Dockerfile`) written for `docker build -f
    docker/Dockerfile .` fails when organizers run `docker build docker/`, and the reverse. The
    error message ("not found") does not say which folder was meant.

    ## Example
    ```dockerfile
    # docker/Dockerfile, built with `docker build docker/`
    COPY src/ /app/src/
    ```

    ## Fix
    Build from the folder the message names (`docker build -f docker/Dockerfile .`), or rewrite
    the paths relative to the context the organizers use.

    ```sh
    docker build -f docker/Dockerfile .
    ```
    """

    id = "CTX008"
    name = "copy-source-other-context"
    reads_outside_context = True
    category = "host-local-artifact"
    severity = "error"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        context = ctx.build_context
        if context is None:
            return
        for source in context.copy_sources(ctx.dockerfile):
            if source.matches or source.missing_vars:
                continue
            missing = classify_missing(context, source, ctx.path)
            if missing.reason != "other-context" or missing.other_context is None:
                continue
            other = _shown(missing.other_context)
            dockerfile = _shown(os.path.abspath(ctx.path))
            message = (f"{source.inst.keyword} source {source.text!r} is not in the build context "
                       f"{_shown(context.root)!r} but exists under {other!r}: this Dockerfile "
                       f"builds with `docker build -f {dockerfile} {other}`")
            yield self.at(ctx, source.offset, source.end_offset, message,
                          fix_hint=f"build with the context {other!r}, or fix the path",
                          source_path=source.pattern, other_context=missing.other_context)


def _shown(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel
