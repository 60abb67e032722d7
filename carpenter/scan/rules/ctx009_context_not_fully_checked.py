"""CTX009: the build context is too large (or unreadable) to check completely."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.context import MAX_ENTRIES
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class ContextNotFullyChecked(Rule):
    """Say when the build context could not be listed completely.

    ## What it does
    The context is listed up to 100,000 entries (folders excluded by `.dockerignore` without
    exceptions are skipped, `.git` is read through git). Past the cap, or when folders cannot
    be read, the context checks ran on part of it and this note says so.

    ## Why it matters
    A context that large is usually a mistake in itself: `docker build` sends all of it to the
    daemon before the first step (checkpoints, datasets, virtual environments).

    ## Example
    A repository with `outputs/` holding 300,000 checkpoint shards and no `.dockerignore`.

    ```text
    repository/
      Dockerfile          (no .dockerignore)
      outputs/            300,000 checkpoint shards
    ```

    ## Fix
    Add the large folders to `.dockerignore`, or build from a smaller folder.

    ```text
    # .dockerignore
    outputs/
    wandb/
    **/checkpoint-*
    ```
    """

    id = "CTX009"
    name = "context-not-fully-checked"
    category = "host-local-artifact"
    severity = "info"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        context = ctx.build_context
        if context is None or not (context.truncated or context.errors):
            return
        first = ctx.dockerfile.instructions[0] if ctx.dockerfile.instructions else None
        start, end = (first.offset, first.args_offset) if first else (0, 0)
        if context.truncated:
            message = (f"the build context has more than {MAX_ENTRIES} entries; context checks "
                       "covered the first ones only (consider a .dockerignore)")
        else:
            message = ("parts of the build context could not be read: "
                       + "; ".join(context.errors[:3]))
        yield self.at(ctx, start, end, message, fix_hint="exclude large folders in .dockerignore")
