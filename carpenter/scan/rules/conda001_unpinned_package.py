"""CONDA001: conda/mamba/micromamba installs a package without a version."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.conda import conda_commands
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import CondaPin
from carpenter.scan.registry import Rule


class CondaUnpinnedPackage(Rule):
    """Flag `conda`/`mamba`/`micromamba install|create` packages without a version.

    ## What it does
    Reports each package spec of `install` and `create` that has no version (`pytorch`), a
    range (`numpy>=1.24`) or an explicit wildcard (`cudatoolkit=11.*`). `name=1.2` (conda's
    fuzzy `1.2.*`) and `name==1.2.3` count as pinned, as does `python=3.10`. `update` and
    `upgrade` are reported too: they move packages to the newest build.

    ## Why it matters
    The solver picks the newest build on the channel on the day of the build: a new
    `pytorch` or `cudatoolkit` changes the CUDA runtime under the submission.

    ## Example
    ```dockerfile
    RUN conda install -y -c pytorch -c nvidia pytorch torchvision pytorch-cuda=12.1
    ```

    ## Fix
    Give every package a version (`pytorch=2.1.0 torchvision=0.16.0`), or install from a
    `conda-lock` lock file.

    ```dockerfile
    RUN conda install -y -c pytorch -c nvidia \\
            pytorch=2.1.0 torchvision=0.16.0 pytorch-cuda=12.1
    ```
    """

    id = "CONDA001"
    name = "conda-unpinned-package"
    category = "unpinned-conda"
    severity = "warning"
    fixable = True

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for inst in ctx.dockerfile.instructions:
            for conda in conda_commands(inst):
                verb = conda.verb.text if conda.verb else ""
                if verb in ("update", "upgrade") and conda.verb is not None:
                    what = "every package" if conda.all_packages or not conda.specs else (
                        ", ".join(s.name for s in conda.specs))
                    yield self.at(
                        ctx, conda.verb.offset, conda.verb.end_offset,
                        f"{conda.tool} {verb} moves {what} to the newest build at build time",
                        fix_hint="install exact versions instead of updating",
                        fixable=False, tool=conda.tool,
                    )
                    continue
                if verb not in ("install", "create"):
                    continue
                for spec in conda.specs:
                    if spec.pinned:
                        continue
                    why = "has no version" if not spec.constraint.strip() else (
                        f"{spec.constraint.strip()} is not an exact version")
                    yield self.at(
                        ctx, spec.offset, spec.end_offset,
                        f"{conda.tool} {verb} {spec.name}: {why}",
                        fix_hint=f"pin it: {spec.name}=<version>",
                        payload=CondaPin(package=spec.name, tool=conda.tool),
                    )
