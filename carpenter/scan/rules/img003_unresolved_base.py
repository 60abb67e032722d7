"""IMG003: a base image named by a build argument that has no value."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.images import image_refs
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class UnresolvedBaseImage(Rule):
    """Note image references whose build argument has no default and was not given.

    ## What it does
    Reports `FROM ${BASE}` (or `COPY --from=${IMAGE}`) when `BASE` is declared without a
    default before the first FROM and no `--build-arg` gives it, so the image cannot be
    checked.

    ## Why it matters
    Whoever rebuilds the submission has to guess the image; the build fails with an
    "invalid reference format" error when the argument is left out.

    ## Example
    ```dockerfile
    ARG BASE_IMAGE
    FROM ${BASE_IMAGE}
    ```

    ## Fix
    Give the argument a pinned default
    (`ARG BASE_IMAGE=nvidia/cuda:12.1.0-runtime-ubuntu22.04@sha256:...`), or scan with
    `--build-arg BASE_IMAGE=...`.

    ```dockerfile
    ARG BASE_IMAGE=nvidia/cuda:12.1.0-runtime-ubuntu22.04@sha256:<digest>
    FROM ${BASE_IMAGE}
    ```
    """

    id = "IMG003"
    name = "base-image-unresolved"
    category = "floating-base-image"
    severity = "info"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for ref in image_refs(ctx.dockerfile):
            if ref.ref is not None:
                continue
            yield self.at(
                ctx, ref.offset, ref.end_offset,
                f"image {ref.raw} depends on a build argument without a value: it cannot be "
                "checked",
                fix_hint="give the ARG a pinned default, or pass --build-arg",
                image=None, raw=ref.raw,
            )
