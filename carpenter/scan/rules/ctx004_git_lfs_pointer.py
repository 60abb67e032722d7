"""CTX004: a Git LFS pointer file copied where real content is expected."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule

MAX_LISTED = 3


class GitLfsPointer(Rule):
    """Report COPY/ADD of Git LFS pointer files instead of their content.

    ## What it does
    Reads the first bytes of small files a COPY/ADD copies (directly or inside a copied folder)
    and reports those that are Git LFS pointers (`version https://git-lfs.github.com/spec/v1`).

    ## Why it matters
    A clone without `git lfs pull` (the default in many CI systems and for organizers without
    git-lfs) holds 130-byte text stubs. The build succeeds and the image fails at load time with
    "invalid load key 'v'" or a safetensors header error.

    ## Example
    ```dockerfile
    COPY adapter/adapter_model.safetensors /app/adapter/
    ```

    ## Fix
    Run `git lfs pull` before building, or download the weights from a pinned Hub revision
    (`revision=<commit sha>`), or commit them as regular files if small.

    ```dockerfile
    # run `git lfs pull` before `docker build`, or fetch a pinned revision:
    RUN huggingface-cli download org/llama-lora --revision <40-hex commit> --local-dir /app/adapter
    ```
    """

    id = "CTX004"
    name = "git-lfs-pointer"
    category = "host-local-artifact"
    severity = "error"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        context = ctx.build_context
        if context is None:
            return
        for source in context.copy_sources(ctx.dockerfile):
            pointers = []
            for match in source.matches:
                for rel in context.files_under(match) or [match]:
                    if context.excluded_by(rel) is None and context.is_lfs_pointer(rel):
                        pointers.append(rel)
            if not pointers:
                continue
            shown = ", ".join(repr(p) for p in pointers[:MAX_LISTED])
            more = f" and {len(pointers) - MAX_LISTED} more" if len(pointers) > MAX_LISTED else ""
            yield self.at(
                ctx, source.offset, source.end_offset,
                f"{source.inst.keyword} {source.text!r} copies Git LFS pointer files instead of "
                f"their content ({shown}{more}); run `git lfs pull` first",
                fix_hint="git lfs pull before building, or download the files from a pinned "
                         "revision", files=pointers)
