"""IMG001: a base image with no tag, `:latest`, or a nightly/dev tag."""

from __future__ import annotations

import re
from collections.abc import Iterator

from carpenter.core.lazyre import lazy_compile
from carpenter.model.images import has_digest, image_refs
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule

# Tag components that name a moving build. `devel` (CUDA's toolkit flavour) is not one.
MOVING = frozenset(
    {"latest", "nightly", "dev", "edge", "unstable", "canary", "main", "master", "rolling",
     "snapshot", "testing", "sid", "stable", "lts"}
)
_PARTS = lazy_compile(r"[-_.+]")
_NIGHTLY = lazy_compile(r"(?:^|[-_.])(?:nightly|dev)\d{6,8}", re.IGNORECASE)


def moving_tag(tag: str | None) -> str | None:
    """Why a tag moves, or None for an ordinary release tag."""
    if tag is None:
        return "has no tag (it means :latest)"
    parts = {p.lower() for p in _PARTS.split(tag)}
    hit = sorted(parts & MOVING)
    if hit:
        return f"uses the moving tag :{tag}"
    if _NIGHTLY.search(tag):
        return f"uses the nightly build tag :{tag} (nightly images are deleted)"
    return None


class FloatingBaseTag(Rule):
    """Flag base images with no tag, `:latest`, or a nightly/dev tag.

    ## What it does
    Resolves build arguments first (`FROM ${BASE_IMAGE}` with `ARG BASE_IMAGE=...` or
    `--build-arg`), then checks every FROM and `COPY --from=<image>`: no tag, `:latest` and
    tags naming a moving build (`nightly`, `dev`, `edge`, `main` ...) are errors unless an
    `@sha256:` digest pins the image. `scratch` and earlier stage names are exempt; CUDA's
    `-devel-` flavour is an ordinary tag.

    ## Why it matters
    The image behind such a tag changes every few days, so the same Dockerfile builds on a
    different OS, Python and CUDA; nightly tags are deleted after a while, so the build
    fails outright.

    ## Example
    ```dockerfile
    FROM pytorch/pytorch:latest
    ```

    ## Fix
    Use a release tag and pin its digest:
    `FROM pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime@sha256:<digest>`.

    ```dockerfile
    FROM pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime@sha256:<digest>
    ```
    """

    id = "IMG001"
    name = "base-image-floating-tag"
    category = "floating-base-image"
    severity = "error"
    hadolint = ("DL3006", "DL3007")

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for ref in image_refs(ctx.dockerfile):
            if ref.ref is None or has_digest(ref.ref):
                continue
            why = moving_tag(ref.tag)
            if why is None:
                continue
            shown = ref.ref if ref.ref == ref.raw else f"{ref.raw} (= {ref.ref})"
            yield self.at(
                ctx, ref.offset, ref.end_offset, f"image {shown} {why}",
                fix_hint="use a release tag and pin it by digest: image:tag@sha256:<digest>",
                image=ref.ref, tag=ref.tag, where=ref.where,
            )
