"""Per-Dockerfile facts several rules share, computed once and kept in `ctx.cache`.

`pip_uses(ctx)`: every pip/uv install with the requirements and constraints files it reads
(followed into the build context through COPY/ADD/WORKDIR/cd) and the package names that a
constraints file in force pins.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field

from carpenter.model.copies import ContextSource, context_source, cwd_for
from carpenter.model.dockerfile import Instruction
from carpenter.model.pip import PipInstall, PipOption, pip_installs
from carpenter.model.requirements import Included, RequirementsFile, follow, parse_requirements
from carpenter.scan.context import ScanContext


@dataclass(eq=False)
class PipUse:
    """A pip install of a stage with the requirement files it reads."""

    inst: Instruction
    install: PipInstall
    files: list[Included] = field(default_factory=list)  # -r/-c files and their includes
    constraint_pins: set[str] = field(default_factory=set)  # names a constraints file pins

    @property
    def requirement_files(self) -> list[RequirementsFile]:
        return [inc.file for inc in self.files if inc.kind == "requirement"]

    @property
    def constraint_files(self) -> list[RequirementsFile]:
        return [inc.file for inc in self.files if inc.kind == "constraint"]


def context_is_dir(ctx: ScanContext):
    def is_dir(rel: str) -> bool | None:
        path = ctx.context_path(rel)
        if path is None:
            return None
        if os.path.isdir(path):
            return True
        return False if os.path.exists(path) else None

    return is_dir


def locate(ctx: ScanContext, inst: Instruction, image_path: str, cwd: str) -> ContextSource | None:
    """The context file (or Dockerfile heredoc) behind an in-image path used by `inst`."""
    return context_source(inst, image_path, cwd, context_is_dir(ctx))


def pip_uses(ctx: ScanContext) -> list[PipUse]:
    cached = ctx.cache.get("pip_uses")
    if cached is not None:
        return cached
    uses: list[PipUse] = []
    for inst in ctx.dockerfile.instructions:
        for install in pip_installs(inst):
            uses.append(_use(ctx, inst, install))
    ctx.cache["pip_uses"] = uses
    return uses


def _use(ctx: ScanContext, inst: Instruction, install: PipInstall) -> PipUse:
    use = PipUse(inst, install)
    cwd = cwd_for(inst, install.command)
    named: list[tuple[str, PipOption]] = [("requirement", o) for o in install.requirement_files]
    named += [("constraint", o) for o in install.constraint_files]
    named += [("constraint", o) for o in install.option_values("--override")]
    env_constraint = _env_value(install, inst, "PIP_CONSTRAINT")
    paths = [(kind, option.value) for kind, option in named if option.value]
    if env_constraint:
        paths += [("constraint", p) for p in env_constraint.split()]
    for kind, image_path in paths:
        use.files.extend(_files(ctx, inst, image_path, cwd, kind))
    for inc in use.files:
        if inc.kind != "constraint":
            continue
        for line in inc.file.requirements:
            req = line.requirement
            if req is not None and req.name and req.pinned:
                use.constraint_pins.add(req.name)
    return use


def _files(
    ctx: ScanContext, inst: Instruction, image_path: str, cwd: str, kind: str
) -> list[Included]:
    """Follow a requirements file through the image paths COPY/ADD put it (and its includes) at."""
    if "://" in image_path:
        return []
    start = posixpath.join(cwd, image_path)
    key = f"req:{inst.index}:{kind}:{start}"
    if key not in ctx.cache:
        ctx.cache[key] = follow(start, kind, lambda path: _read(ctx, inst, path))
    return ctx.cache[key]


def _read(ctx: ScanContext, inst: Instruction, image_path: str) -> RequirementsFile | None:
    found = locate(ctx, inst, image_path, "/")
    if found is None:
        return None
    if found.heredoc is not None:
        doc = found.heredoc
        parsed = parse_requirements(ctx.source, doc.offset, doc.offset + len(doc.body), inst.vars)
        parsed.rel = image_path
        return parsed
    if found.rel is None:
        return None
    key = f"reqfile:{found.rel}"
    if key not in ctx.cache:
        source = ctx.context_file(found.rel)
        parsed = None
        if source is not None:
            parsed = parse_requirements(source, variables=inst.vars)
            parsed.rel = found.rel
        ctx.cache[key] = parsed
    return ctx.cache[key]


def _env_value(install: PipInstall, inst: Instruction, name: str) -> str | None:
    for word in install.command.assignments:
        key, _, value = word.text.partition("=")
        if key == name:
            return value
    _, env = install.command.effective()
    for word in env:
        key, _, value = word.text.partition("=")
        if key == name:
            return value
    value = inst.vars.get(name)
    return value or None
