"""CTX007: a copied symlink that points outside the build context."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule

MAX_LISTED = 3


class SymlinkOutsideContext(Rule):
    """Report symbolic links in copied paths whose target lies outside the build context.

    ## What it does
    Lists the symlinks of the build context (without following them) and reports those that a
    COPY/ADD copies while their target resolves outside the context folder (or nowhere).

    ## Why it matters
    Docker copies the link itself, not the file it points to: `models/llama -> /data/llama`
    becomes a dangling link in the image, and loading the model fails at run time. Locally
    everything works because the target exists.

    ## Example
    ```dockerfile
    # models/base -> /mnt/shared/llama-2-7b
    COPY models/ /app/models/
    ```

    ## Fix
    Replace the link by the real files (or download them at build time from a pinned
    revision), or make it a relative link to a file inside the context.

    ```text
    models/base -> ../weights/llama-2-7b    (relative, inside the context)
    ```
    """

    id = "CTX007"
    name = "symlink-outside-context"
    category = "host-local-artifact"
    severity = "error"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        context = ctx.build_context
        if context is None:
            return
        links = [e for e in context.entries.values()
                 if e.kind == "symlink" and e.outside and context.excluded_by(e.rel) is None]
        if not links:
            return
        for source in context.copy_sources(ctx.dockerfile):
            hits = []
            for match in source.matches:
                prefix = "" if match == "." else match + "/"
                hits.extend(e for e in links if e.rel == match or e.rel.startswith(prefix))
            if not hits:
                continue
            shown = ", ".join(f"{e.rel!r} -> {e.target!r}" for e in hits[:MAX_LISTED])
            more = f" and {len(hits) - MAX_LISTED} more" if len(hits) > MAX_LISTED else ""
            yield self.at(
                ctx, source.offset, source.end_offset,
                f"{source.inst.keyword} {source.text!r} copies symbolic links that point outside "
                f"the build context ({shown}{more}); the image gets dangling links",
                fix_hint="replace the links by the files, or link to files inside the context",
                links=[e.rel for e in hits])
