"""Per-Dockerfile facts several rules share, computed once and kept in `ctx.cache`.

`pip_uses(ctx)`: every pip/uv install with the requirements and constraints files it reads
(followed into the build context through COPY/ADD/WORKDIR/cd) and the package names that a
constraints file in force pins.

`conda_env_uses(ctx)`: every environment file (or spec list) a conda/mamba/micromamba command
reads, parsed once; an environment file that cannot be read is reported once, at its line.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import field

from carpenter.core.diagnostics import Diagnostic
from carpenter.core.lazyre import lazy_compile
from carpenter.core.records import record
from carpenter.model.conda import CondaCommand, EnvironmentFile, conda_commands, read_environment
from carpenter.model.copies import ContextSource, context_source, cwd_for
from carpenter.model.dockerfile import Instruction
from carpenter.model.pip import PipInstall, PipOption, pip_installs
from carpenter.model.requirements import Included, RequirementsFile, follow, parse_requirements
from carpenter.model.source import SourceFile
from carpenter.scan.context import ScanContext


@record(eq=False)
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


# -- conda environment files ---------------------------------------------------------------

@record(eq=False)
class CondaEnvUse:
    inst: Instruction
    conda: CondaCommand
    rel: str  # the file in the build context
    source: SourceFile
    folder: str  # its folder in the image: conda runs pip there, so `-r x` is relative to it
    env: EnvironmentFile | None  # None for a spec list (`conda install --file specs.txt`)

    @property
    def fresh(self) -> bool:
        """`conda env create` / `micromamba create -f`: a new environment, holding nothing of
        the image's own Python environment."""
        return self.conda.verb is not None and "create" in (
            self.conda.verb.text, self.conda.env_verb.text if self.conda.env_verb else "")


def conda_env_uses(ctx: ScanContext) -> list[CondaEnvUse]:
    cached = ctx.cache.get("conda_env_uses")
    if cached is not None:
        return cached
    uses: list[CondaEnvUse] = []
    for inst in ctx.dockerfile.instructions:
        for conda in conda_commands(inst):
            for image_path in env_files(conda):
                where = posixpath.join(cwd_for(inst, conda.command), image_path)
                found = locate(ctx, inst, where, "/")
                if found is None or found.rel is None:
                    continue
                source = ctx.context_file(found.rel)
                if source is None:
                    continue
                env = _environment(ctx, found.rel, source) \
                    if source.path.endswith((".yml", ".yaml")) else None
                uses.append(CondaEnvUse(inst, conda, found.rel, source,
                                        posixpath.dirname(where), env))
    ctx.cache["conda_env_uses"] = uses
    return uses


def env_files(conda: CondaCommand) -> list[str]:
    """The files a conda command reads its packages from (image paths, as written)."""
    verb = conda.verb.text if conda.verb else ""
    env_verb = conda.env_verb.text if conda.env_verb else ""
    files = [value for _word, value in conda.files if value]
    if verb == "env" and env_verb in ("create", "update"):
        return files or ["environment.yml"]  # what `conda env create` reads without -f
    if verb in ("create", "install", "update"):
        return files
    return []


_FILE_OPTION = lazy_compile(r"^(?P<option>-r|--requirement|-c|--constraint)(?:\s*=\s*|\s*)"
                          r"(?P<value>\S.*?)\s*$")


def env_pip_files(ctx: ScanContext, use: CondaEnvUse, line: str) -> list[Included]:
    """The files a `-r x` / `-c x` line of a `pip:` list reaches (relative to the file's
    folder, where conda runs pip), with their own includes; [] for any other line."""
    match = _FILE_OPTION.match(line.strip())
    if match is None or "://" in match.group("value"):
        return []
    kind = "constraint" if match.group("option") in ("-c", "--constraint") else "requirement"
    return _files(ctx, use.inst, match.group("value"), use.folder, kind)


def _environment(ctx: ScanContext, rel: str, source: SourceFile) -> EnvironmentFile:
    key = f"env:{rel}"
    if key not in ctx.cache:
        env = read_environment(source)
        if env.problem is not None:
            ctx.errors.append(Diagnostic(source.path, env.problem.line,
                                         f"environment file: {env.problem.message}",
                                         env.problem.column))
        ctx.cache[key] = env
    return ctx.cache[key]
