"""APT002: `apt-get upgrade`/`dist-upgrade` in a build."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.apt import UPGRADE_VERBS, apt_commands
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class AptUpgrade(Rule):
    """Flag `apt-get upgrade`, `dist-upgrade` and `full-upgrade` inside a build.

    ## What it does
    Reports the upgrade subcommands of `apt-get`, `apt` and `aptitude`.

    ## Why it matters
    An upgrade replaces every package of the base image with whatever the archive holds on the
    day of the build, so even a digest-pinned base image stops being reproducible. On CUDA
    images it can also move the CUDA or driver libraries under a prebuilt torch.

    ## Example
    ```dockerfile
    RUN apt-get update && apt-get -y dist-upgrade
    ```

    ## Fix
    Drop the upgrade and pin a newer base image (by digest) instead; install only the packages
    you need, pinned.

    ```dockerfile
    FROM nvidia/cuda:12.1.0-runtime-ubuntu22.04@sha256:<digest>
    RUN apt-get update && apt-get install -y --no-install-recommends git=1:2.34.1-1ubuntu1.10
    ```
    """

    id = "APT002"
    name = "apt-upgrade"
    category = "unpinned-apt"
    severity = "warning"
    hadolint = ("DL3005",)

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for inst in ctx.dockerfile.instructions:
            for apt in apt_commands(inst):
                if apt.verb is not None and apt.verb.text in UPGRADE_VERBS:
                    words = apt.command.words
                    start = words[0].offset if words else apt.verb.offset
                    yield self.at(
                        ctx, start, apt.verb.end_offset,
                        f"{apt.tool} {apt.verb.text} upgrades every system package to the newest "
                        "version at build time",
                        fix_hint="remove the upgrade; pin a newer base image by digest instead",
                        tool=apt.tool, verb=apt.verb.text,
                    )
