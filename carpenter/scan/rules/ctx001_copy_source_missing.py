"""CTX001: a COPY/ADD source that does not exist in the build context."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.context import classify_missing
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class CopySourceMissing(Rule):
    """Report COPY/ADD sources that match nothing in the build context.

    ## What it does
    Resolves every COPY/ADD source (ARG/ENV expanded, wildcards matched the way Docker matches
    them: `*` and `?` never cross `/`, dot files included) against the build context folder.
    Sources that match nothing, or that climb out of the context with `../`, are reported.
    Sources found in another folder are reported by CTX008, absolute host paths by CTX006.

    ## Why it matters
    `docker build` stops with "file not found in build context" (or "no source files were
    specified" for a wildcard): the submission cannot be built from what was handed in.

    ## Example
    ```dockerfile
    COPY checkpoints/ /app/checkpoints/
    ```

    ## Fix
    Add the file to the repository (small files), download it at run time from a pinned
    revision (weights), or remove the COPY. Paths are relative to the build context, never to
    the Dockerfile or your machine.

    ```dockerfile
    # the adapter is committed under adapter/ in the repository
    COPY adapter/ /app/adapter/
    ```
    """

    id = "CTX001"
    name = "copy-source-missing"
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
            if missing.reason == "outside":
                message = (f"{source.inst.keyword} source {source.text!r} points outside the "
                           "build context; Docker cannot read files above the context folder")
                hint = "build from a folder that contains it, or move the file into the context"
            elif missing.reason == "missing":
                what = "matches no file" if source.is_glob else "does not exist"
                message = (f"{source.inst.keyword} source {source.text!r} {what} in the build "
                           f"context {ctx.display(context.root)!r}")
                hint = "commit the file, fetch it from a pinned URL, or remove the COPY"
            else:
                continue
            yield self.at(ctx, source.offset, source.end_offset, message, fix_hint=hint,
                          source_path=source.pattern)
