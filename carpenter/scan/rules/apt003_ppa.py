"""APT003: a PPA or extra apt repository added during the build."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.core.lazyre import lazy_compile
from carpenter.model.shell import all_commands
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule

_PPA = lazy_compile(r"^ppa:[\w.+-]+/[\w.+-]+$")


class AptPpa(Rule):
    """Note `add-apt-repository ppa:...` (PPAs keep only the latest build of a package).

    ## What it does
    Reports `add-apt-repository` calls that add a PPA or a repository line.

    ## Why it matters
    PPAs (deadsnakes for Python versions, graphics drivers, toolchains) usually keep only the
    newest build of each package, and have no dated snapshots before 2023: a rebuild gets a
    different version or none at all.

    ## Example
    ```dockerfile
    RUN add-apt-repository -y ppa:deadsnakes/ppa && apt-get install -y python3.10
    ```

    ## Fix
    Prefer a base image that already has what you need (e.g. `python:3.10-slim`), or pin
    the exact package versions from the PPA and record them.

    ```dockerfile
    FROM python:3.10-slim@sha256:<digest>
    # or, when the PPA is unavoidable, pin what it served on the day you tested:
    RUN add-apt-repository -y ppa:deadsnakes/ppa \\
        && apt-get install -y python3.10=3.10.13-1+jammy1
    ```
    """

    id = "APT003"
    name = "apt-ppa"
    category = "unpinned-apt"
    severity = "info"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for inst in ctx.dockerfile.instructions:
            if inst.keyword != "RUN":
                continue
            for _script, cmd in all_commands(inst):
                words, _ = cmd.effective()
                if not words or words[0].text.rsplit("/", 1)[-1] != "add-apt-repository":
                    continue
                for word in words[1:]:
                    if word.text.startswith("-"):
                        continue
                    kind = "PPA" if _PPA.match(word.text) else "repository"
                    yield self.at(
                        ctx, word.offset, word.end_offset,
                        f"adds the {kind} {word.text}: it keeps only recent package builds",
                        fix_hint="use a base image that ships the package, or pin exact versions",
                        repository=word.text,
                    )
