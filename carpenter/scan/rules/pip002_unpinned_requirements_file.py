"""PIP002: an unpinned line in a requirements file that a `pip install -r` reads."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.requirements import ReqLine, RequirementsFile
from carpenter.scan.context import ScanContext
from carpenter.scan.facts import pip_uses
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import PipPin
from carpenter.scan.registry import Rule


class PipUnpinnedRequirementsFile(Rule):
    """Follow `-r` files into the build context and flag each unpinned line where it is written.

    ## What it does
    For every `pip install -r FILE` (and `-c FILE`), maps the in-image path back to the build
    context through the COPY/ADD and WORKDIR (and `cd`) that put the file there, follows nested
    `-r`/`-c` lines, and reports each requirement without an exact `==` pin or `--hash` **in the
    requirements file itself** (its path and line). A package pinned by a constraints file in
    force counts as pinned. Requirement files written by `COPY <<EOF` are read from the
    Dockerfile.

    ## Why it matters
    hadolint skips any `pip install -r`, so a requirements file full of `>=` ranges passes
    review, yet it installs different versions on every rebuild.

    ## Example
    ```text
    # requirements.txt
    transformers>=4.30
    peft
    ```

    ## Fix
    Pin each line (`transformers==4.35.1`), or generate a lock with
    `uv pip compile --generate-hashes`. `carpenter fix` rewrites the lines in place.

    ```text
    # requirements.txt
    transformers==4.35.1
    peft==0.6.2
    ```
    """

    id = "PIP002"
    name = "pip-unpinned-requirements-file"
    category = "unpinned-pip"
    severity = "warning"
    fixable = True

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for use in pip_uses(ctx):
            for file in use.requirement_files:
                for line in file.requirements:
                    req = line.requirement
                    if req is None or req.kind not in ("requirement", "url") or req.pinned:
                        continue
                    if req.name and req.name in use.constraint_pins:
                        continue
                    yield self._finding(ctx, file, line)

    def _finding(self, ctx: ScanContext, file: RequirementsFile, line: ReqLine) -> Finding:
        req = line.requirement
        assert req is not None
        label = req.raw_name or req.text
        if req.kind == "url":
            message = f"{req.text}: a remote archive that can change between builds"
        elif not req.specifier:
            message = f"{label} is not pinned: pip installs the newest release at build time"
        else:
            message = f"{label}{req.specifier} is a range, not a pin"
        return self.at(
            ctx, req.word.offset, req.word.end_offset, message,
            fix_hint=f"pin one version: {label}==<version>",
            source=file.source,
            payload=PipPin(
                package=req.name, requirement=req.text, extras=tuple(req.extras),
                marker=req.marker, specifier=req.specifier, spec_offset=line.spec_offset,
                spec_end_offset=line.spec_end_offset, file=file.rel,
            ),
        )
