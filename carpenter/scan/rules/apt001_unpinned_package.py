"""APT001: `apt-get install` of a package without `=version`."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.apt import INSTALL_VERBS, apt_commands
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import AptPackage
from carpenter.scan.registry import Rule


class AptUnpinnedPackage(Rule):
    """Flag `apt-get`/`apt`/`aptitude install` packages without an exact `=version`.

    ## What it does
    Reports each package of an `apt-get install`, `apt install` or `aptitude install` that has
    no `=version`, or whose version holds a wildcard (`libgl1=1.*`). A target release
    (`pkg/bookworm-backports`) is not a pin. Packages from a build argument are expanded;
    local `.deb` files are fixed files.

    ## Why it matters
    The archive moves on: a rebuild installs newer system libraries (CUDA, cuDNN, NCCL,
    compilers) than the ones the submission was tested with.

    ## Example
    ```dockerfile
    RUN apt-get update && apt-get install -y git libgl1=1.*
    ```

    ## Fix
    Install from a dated snapshot mirror (Debian/Ubuntu snapshot archives) and pin the
    versions that matter: `apt-get install -y git=1:2.34.1-1ubuntu1.10`.

    ```dockerfile
    RUN apt-get update && apt-get install -y --no-install-recommends \\
            git=1:2.34.1-1ubuntu1.10 libgl1=1.4.0-1 \\
        && rm -rf /var/lib/apt/lists/*
    ```
    """

    id = "APT001"
    name = "apt-unpinned-package"
    category = "unpinned-apt"
    severity = "warning"
    hadolint = ("DL3008",)
    fixable = True  # carpenter fix points apt at a dated snapshot archive

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for inst in ctx.dockerfile.instructions:
            for apt in apt_commands(inst):
                if apt.verb is None or apt.verb.text not in INSTALL_VERBS:
                    continue
                if _sources_frozen(ctx, inst, apt.command.offset):
                    continue  # a dated snapshot archive pins every package to its date
                for package in apt.packages:
                    if package.pinned or package.unresolved:
                        continue
                    if package.version:
                        why = f"={package.version} is a wildcard, not a pin"
                    elif package.release:
                        why = f"/{package.release} picks a release, not a version"
                    else:
                        why = "has no =version"
                    yield self.at(
                        ctx, package.word.offset, package.word.end_offset,
                        f"{apt.tool} install {package.name}: {why}",
                        fix_hint=f"pin {package.name}=<version>, or use a dated snapshot mirror",
                        payload=AptPackage(package=package.name, tool=apt.tool),
                    )


# Dated snapshot archives (snapshot.debian.org, snapshot.ubuntu.com, `apt --snapshot ID`)
# serve the archive as it was: installs from them are reproducible without `=version`.
_SNAPSHOT_MARKERS = ("snapshot.debian.org", "snapshot.ubuntu.com", "--snapshot")


def _sources_frozen(ctx: ScanContext, inst, before: int) -> bool:
    stage = inst.stage
    if stage is None:
        return False
    text = ctx.source.text
    for earlier in stage.instructions:
        if earlier.offset > inst.offset:
            break
        end = before if earlier is inst else earlier.end_offset
        if any(m in text[earlier.offset:end] for m in _SNAPSHOT_MARKERS):
            return True
    return False
