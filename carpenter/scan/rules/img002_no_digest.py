"""IMG002: a base image pinned by tag only, without an `@sha256:` digest."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.images import has_digest, image_refs
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import ImageDigest
from carpenter.scan.registry import Rule
from carpenter.scan.rules.img001_floating_tag import moving_tag


class BaseImageWithoutDigest(Rule):
    """Flag image references with a release tag but no `@sha256:` digest.

    ## What it does
    After resolving build arguments, reports every FROM (and `COPY --from=<image>`) whose tag
    looks like a release (`nvidia/cuda:12.1.0-devel-ubuntu22.04`) but carries no digest.
    Moving tags are IMG001; stage names and `scratch` are exempt.

    ## Why it matters
    Tags are mutable: `pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime` and `python:3.10` are
    rebuilt with OS updates and can be re-pointed. Only a digest names the exact image.

    ## Example
    ```dockerfile
    FROM nvidia/cuda:12.1.0-devel-ubuntu22.04
    ```

    ## Fix
    Keep the tag for readers and add the digest:
    `FROM nvidia/cuda:12.1.0-devel-ubuntu22.04@sha256:<digest>` (`carpenter fix` adds it
    from a snapshot; `docker inspect --format '{{index .RepoDigests 0}}' IMAGE` shows it).

    ```dockerfile
    FROM nvidia/cuda:12.1.0-devel-ubuntu22.04@sha256:<digest>
    ```
    """

    id = "IMG002"
    name = "base-image-without-digest"
    category = "floating-base-image"
    severity = "warning"
    fixable = True

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for ref in image_refs(ctx.dockerfile):
            if ref.ref is None or has_digest(ref.ref) or moving_tag(ref.tag) is not None:
                continue
            yield self.at(
                ctx, ref.offset, ref.end_offset,
                f"image {ref.ref} is pinned by tag only: the tag can be re-pointed",
                fix_hint=f"pin the digest: {ref.ref}@sha256:<digest>",
                payload=ImageDigest(image=ref.ref, tag=ref.tag, where=ref.where),
            )
