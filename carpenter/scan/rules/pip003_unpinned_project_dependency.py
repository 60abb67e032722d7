"""PIP003: `pip install .` / `-e .` of a local project whose declared dependencies float."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from carpenter.core.lazyre import lazy_compile
from carpenter.model.copies import cwd_for
from carpenter.model.pip import PipRequirement, classify_requirement
from carpenter.scan.context import ScanContext
from carpenter.scan.facts import PipUse, locate, pip_uses
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import PipPin
from carpenter.scan.registry import Rule

_EXTRAS = lazy_compile(r"\[([^\]]*)\]$")


class PipUnpinnedProjectDependency(Rule):
    """Read `pyproject.toml`/`setup.cfg`/`setup.py` of a project installed from the context.

    ## What it does
    For `pip install .`, `pip install -e .`, `pip install ./pkg[train]` and the like, finds the
    project folder in the build context (through COPY and WORKDIR) and reports every declared
    dependency (`[project] dependencies`, the requested optional extras, Poetry dependencies,
    `install_requires`) that is not pinned to one exact version, at its line in that file.

    ## Why it matters
    Installing the submission as a package pulls its dependencies from the newest releases,
    exactly like an unpinned `pip install`, but hidden one file away.

    ## Example
    ```toml
    [project]
    dependencies = ["transformers>=4.34", "peft"]
    ```

    ## Fix
    Pin the dependencies in the project file, or install a pinned lock file first
    (`pip install -r requirements.lock` then `pip install --no-deps .`).

    ```dockerfile
    COPY requirements.lock pyproject.toml ./
    RUN pip install -r requirements.lock && pip install --no-deps .
    ```
    """

    id = "PIP003"
    name = "pip-unpinned-project-dependency"
    category = "unpinned-pip"
    severity = "warning"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for use in pip_uses(ctx):
            if use.install.has("--no-deps"):
                continue  # dependencies are not installed from the project's metadata
            for req in use.install.requirements:
                if req.is_local_dir:
                    yield from self._project(ctx, use, req)

    def _project(self, ctx: ScanContext, use: PipUse, req: PipRequirement) -> Iterator[Finding]:
        path = req.text
        extras: tuple[str, ...] = ()
        match = _EXTRAS.search(path)
        if match:
            extras = tuple(e.strip() for e in match.group(1).split(",") if e.strip())
            path = path[: match.start()]
        cwd = cwd_for(use.inst, use.install.command)
        folder = None
        for marker in ("pyproject.toml", "setup.py", "setup.cfg"):
            found = locate(ctx, use.inst, posixpath.join(path, marker), cwd)
            if found is not None and found.rel is not None:
                folder = posixpath.dirname(found.rel)
                break
        if folder is None:
            return
        read = ctx.context_file
        from carpenter.model.project import project_dependencies  # `pip install .` only

        for declared in project_dependencies(read, folder, extras):
            dep = classify_requirement(declared.text, req.word)
            if dep.kind not in ("requirement", "url") or dep.pinned:
                continue
            if dep.name and dep.name in use.constraint_pins:
                continue
            label = dep.raw_name or dep.text
            why = f"{dep.specifier} is a range, not a pin" if dep.specifier else " is not pinned"
            yield self.at(
                ctx, declared.offset, declared.end_offset,
                f"{label}{why} (a dependency of the project installed by "
                f"`pip install {req.text}`)",
                fix_hint=f"pin {label}==<version> here, or install a lock file and then "
                "`pip install --no-deps .`",
                source=declared.source, payload=PipPin(package=dep.name, requirement=declared.text),
            )
