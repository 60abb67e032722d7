"""PIP001: a `pip install` argument that is not pinned to one exact version."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.core.lazyre import lazy_compile
from carpenter.model.pip import PipRequirement, requirement_value_word
from carpenter.scan.context import ScanContext
from carpenter.scan.facts import PipUse, pip_uses
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import PipPin
from carpenter.scan.registry import Rule

_HEAD = lazy_compile(r"\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?\s*")


class PipUnpinnedRequirement(Rule):
    """Flag packages installed by `pip`/`uv pip` on a RUN line without an exact `==` pin.

    ## What it does
    Reads every `pip install`, `pip3 install`, `python3.10 -m pip install` and `uv pip install`
    (behind `sudo`, `env`, `sh -c` or in a heredoc) and reports each requirement that is not
    pinned to exactly one version: a bare name, a range (`>=`, `~=`, `<`, `!=`), a wildcard
    (`==2.1.*`), extras without a pin, or a version taken from a build argument with no value.
    ARG/ENV defaults are expanded, and a package pinned by a constraints file in force
    (`-c`, `PIP_CONSTRAINT`) counts as pinned. Remote archive URLs that can change are reported
    too; wheel URLs and versioned archives are fixed files.

    ## Why it matters
    An unpinned requirement installs whatever is newest on the day of the build. A submission
    that worked in 2023 rebuilds with transformers 4.4x, a new torch and new CUDA wheels, and
    fails at import or gives different results. `--pre` and `-U` make it worse: they pull
    pre-releases and force upgrades.

    ## Example
    ```dockerfile
    RUN pip install "transformers>=4.30" peft accelerate==0.24.1
    ```

    ## Fix
    Pin every package to the version that was tested, e.g. `transformers==4.35.1 peft==0.6.2`,
    or install from a hash-pinned lock file. `carpenter fix` picks the versions from a dated
    snapshot.

    ```dockerfile
    RUN pip install "transformers==4.35.1" peft==0.6.2 accelerate==0.24.1
    ```
    """

    id = "PIP001"
    name = "pip-unpinned-requirement"
    category = "unpinned-pip"
    severity = "warning"
    fixable = True
    hadolint = ("DL3013",)

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for use in pip_uses(ctx):
            for req in use.install.requirements:
                if req.kind not in ("requirement", "url") or req.pinned:
                    continue
                if req.name and req.name in use.constraint_pins and not req.missing_vars:
                    continue
                yield self._finding(ctx, use, req)

    def _finding(self, ctx: ScanContext, use: PipUse, req: PipRequirement) -> Finding:
        start, end = requirement_value_word(req)
        label = req.raw_name or req.text
        if req.missing_vars:
            names = ", ".join(f"${v}" for v in sorted(req.missing_vars))
            message = f"{label}: the version comes from {names}, which has no value at build time"
        elif req.kind == "url":
            message = f"{req.text}: a remote archive that can change between builds"
        elif not req.specifier:
            message = f"{label} is not pinned: pip installs the newest release at build time"
        else:
            message = f"{label}{req.specifier} is a range, not a pin"
        if use.install.pre:
            message += " (--pre also allows pre-releases and nightlies)"
        if use.install.upgrade:
            message += " (-U upgrades it to the newest release)"
        spec_offset = spec_end_offset = None
        raw = ctx.source.text[start:end]
        head = _HEAD.match(raw)
        if req.kind == "requirement" and raw == req.text and head:
            spec_end = raw.split(";", 1)[0].rstrip()
            spec_offset = start + head.end()
            spec_end_offset = start + max(head.end(), len(spec_end))
        pin = PipPin(package=req.name, requirement=req.text, extras=tuple(req.extras),
                     marker=req.marker, specifier=req.specifier, spec_offset=spec_offset,
                     spec_end_offset=spec_end_offset)
        hint = (
            f"pin one version: {req.raw_name or req.name}==<version>"
            if req.kind == "requirement"
            else "use a wheel URL of a fixed file, or a package==version pin"
        )
        return self.at(ctx, start, end, message, fix_hint=hint, payload=pin)
