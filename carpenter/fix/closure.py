"""The pip closure of each Dockerfile stage, resolved as of the snapshot's date.

A stage installs everything its pip/uv lines name: requirements on the command line, `-r`
files reached through COPY, the metadata of `pip install .`, plus what earlier stages of its
`FROM` chain installed and what the base image ships. Pinning only the names written leaves
their dependencies floating (numpy 2 under a 2023 torch), so `fix` resolves that whole set
with uv at the cut-off, isolated exactly as `snapshot create` is, for the base's Python, and
then (a) pins each written line to the version the resolution chose (inside the line's own
specifier, since the resolver honoured it) and (b) writes the closure as a constraints lock.

Offline (or when no index answers) the bundled dated index view picks, for each written
requirement, the newest in-range version of the date; that answer was not checked by a
resolver, and the result says so.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from carpenter.core.errors import ConfigError, SnapshotError
from carpenter.core.resources import data_dir
from carpenter.model.conda import CondaSpec
from carpenter.model.copies import cwd_for
from carpenter.model.dockerfile import Dockerfile, Instruction, Stage
from carpenter.model.pip import PipRequirement, classify_requirement
from carpenter.model.project import project_dependencies
from carpenter.model.requirements import Included
from carpenter.model.shell import Word
from carpenter.scan.config import ScanConfig
from carpenter.scan.context import ScanContext
from carpenter.scan.facts import (
    CondaEnvUse,
    PipUse,
    conda_env_uses,
    env_pip_files,
    locate,
    pip_uses,
)
from carpenter.snapshot.create import PYPI, cutoff_of, find_uv, isolated_env
from carpenter.snapshot.graph import RequirementGraph, load_graph
from carpenter.snapshot.index import DatedIndex, load_index
from carpenter.snapshot.lookup import Lookups
from carpenter.snapshot.model import Snapshot, normalize_image_ref

LOCK_PREFIX = "carpenter-constraints"
# Build tooling stays free in the lock: PIP_CONSTRAINT also binds pip's isolated build
# environments, where an old setuptools breaks newer sdists.
BUILD_TOOLS = frozenset({"pip", "setuptools", "wheel"})
_EXTRAS = re.compile(r"\[([^\]]*)\]$")
CONDA_PYTHON = "conda"  # StageInputs.python: the snapshot's conda Python
# Where an offline pin came from (Closure.origins).
SNAPSHOT, INDEX, BASE = "snapshot", "index", "base"
_UNREACHABLE = ("dns error", "failed to connect", "connection refused", "network is unreachable",
                "client error (connect)", "operation timed out", "could not connect")


@dataclass(frozen=True)
class BaseFacts:
    """What a base image ships (carpenter/data/bases.toml)."""

    pattern: str
    python: str
    os: str = ""
    torch: str = ""
    preinstalled: dict[str, str] = field(default_factory=dict)


@dataclass
class StageInputs:
    """The pip requirement set one stage installs (its FROM chain included)."""

    stage: Stage
    base: str
    requirements: list[str] = field(default_factory=list)  # PEP 508 strings for the resolver
    constraints: list[str] = field(default_factory=list)  # the submission's own -c pins
    paths: set[str] = field(default_factory=set)  # files the requirements were read from
    unresolved: list[str] = field(default_factory=list)  # VCS/URL/path installs left out
    direct: set[str] = field(default_factory=set)  # names installed from a URL/VCS/file
    # This stage's own instructions that install with pip (a RUN pip, a conda env file
    # with a pip: list): the lock must be in force before the first of them.
    installers: list[Instruction] = field(default_factory=list)
    # From an environment file: the Python it asks for ("3.10", or CONDA_PYTHON: the
    # snapshot's conda Python, which the conda fix writes for a bare `python`), the conda
    # packages it installs (PyPI name -> specifier), and whether it makes a new environment
    # (which holds nothing the base image ships).
    python: str = ""
    conda: dict[str, str] = field(default_factory=dict)
    fresh_env: bool = False
    # The lock an earlier `fix --write` left for this stage: its versions are the resolver's
    # preferences, so a second run is a no-op (uv's choice among equally valid transitive
    # versions otherwise depends on the order of its inputs).
    previous_lock: str = ""


@dataclass
class Closure:
    stage: Stage
    python: str
    base: BaseFacts | None
    inputs: StageInputs
    # What is installed before pip runs, name -> specifier ("" for any version): what the base
    # image ships (unless an environment file makes a new environment) and the conda
    # packages of that file. Constraints for the resolver; the lock leaves them to their
    # installer.
    shipped: dict[str, str] = field(default_factory=dict)
    pins: dict[str, str] = field(default_factory=dict)  # canonical name -> version
    checked: bool = False  # True: uv resolved the whole set; False: the dated index view
    error: str = ""  # uv's explanation when the submission's pins cannot hold together
    note: str = ""
    # Offline: where each pin came from (SNAPSHOT, INDEX, BASE); online every pin is uv's.
    origins: dict[str, str] = field(default_factory=dict)
    # Offline: packages no exact version can be given for -> the newest release of the date,
    # written to the lock as `name<=version` (pip still chooses, within the date).
    bounds: dict[str, str] = field(default_factory=dict)
    # Offline: written names whose line is left alone -> why.
    held: dict[str, str] = field(default_factory=dict)

    @property
    def from_index(self) -> set[str]:
        """Versions the dated index view chose where the snapshot's did not fit a range."""
        return {n for n, origin in self.origins.items() if origin == INDEX}

    @property
    def lock_pins(self) -> dict[str, str]:
        """What the lock holds: the closure minus build tools and what the base ships."""
        return {n: v for n, v in self.pins.items() if self._locks(n)}

    @property
    def lock_bounds(self) -> dict[str, str]:
        """Offline: the lock's `name<=version` lines (see `bounds`)."""
        return {n: v for n, v in self.bounds.items() if self._locks(n)}

    def _locks(self, name: str) -> bool:
        # A package installed from a URL or VCS is that file's version: a pin would fight it.
        return name not in BUILD_TOOLS and name not in self.inputs.direct and (
            name not in self.shipped or name in _names(self.inputs.requirements))


# -- base images ------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def base_table() -> tuple[BaseFacts, ...]:
    path = data_dir() / "bases.toml"
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the base-image table: {exc}", path=str(path)) from exc
    out = []
    for entry in doc.get("base", []):
        for pattern in entry["match"]:
            out.append(BaseFacts(pattern, str(entry["python"]), entry.get("os", ""),
                                 entry.get("torch", ""),
                                 {canonicalize_name(k): str(v)
                                  for k, v in entry.get("preinstalled", {}).items()}))
    return tuple(out)


def base_facts(ref: str) -> BaseFacts | None:
    """The table entry for an image reference (digest and docker.io prefix ignored)."""
    if not ref:
        return None
    plain = normalize_image_ref(ref.split("@", 1)[0])
    short = plain.removeprefix("docker.io/").removeprefix("library/")
    for facts in base_table():
        if fnmatch.fnmatchcase(short, facts.pattern) or fnmatch.fnmatchcase(plain, facts.pattern):
            return facts
    return None


# -- collecting a stage's requirement set ------------------------------------------------------

def stage_inputs(dockerfile: Dockerfile, context_dir: str) -> list[StageInputs]:
    """One entry per stage that installs Python packages (itself or through its FROM chain)."""
    ctx = ScanContext(dockerfile, context_dir, ScanConfig())
    own: dict[int, StageInputs] = {}
    for use in pip_uses(ctx):
        stage = use.inst.stage
        if stage is None:
            continue
        inputs = own.setdefault(stage.index, StageInputs(stage, ""))
        _collect(ctx, use, inputs)
        _installer(inputs, use.inst)
    for env_use in conda_env_uses(ctx):
        stage = env_use.inst.stage
        if stage is None or env_use.env is None or not env_use.env.pip:
            continue  # conda packages alone: the pip closure is not concerned
        inputs = own.setdefault(stage.index, StageInputs(stage, ""))
        _collect_env(ctx, env_use, inputs)
        _installer(inputs, env_use.inst)
    out = []
    for stage in dockerfile.stages:
        chain = _chain(dockerfile, stage)
        parts = [own[s.index] for s in chain if s.index in own]
        if stage.index not in own:
            continue  # a stage that installs nothing itself needs no lock of its own
        merged = StageInputs(stage, chain[-1].base or chain[-1].base_raw or "",
                             installers=own[stage.index].installers)
        for part in reversed(parts):  # the base stage first: what it installed stays
            merged.requirements += [r for r in part.requirements if r not in merged.requirements]
            merged.constraints += [c for c in part.constraints if c not in merged.constraints]
            merged.paths |= part.paths
            merged.unresolved += part.unresolved
            merged.direct |= part.direct
            merged.python = part.python or merged.python  # the latest environment file's
            merged.conda.update(part.conda)
            merged.fresh_env |= part.fresh_env
        out.append(merged)
    return out


def _chain(dockerfile: Dockerfile, stage: Stage) -> list[Stage]:
    """The stage, then the stages it starts FROM, up to the one with an external image."""
    chain = [stage]
    while chain[-1].is_stage_ref and len(chain) < 64:
        parent = dockerfile.stage_named(chain[-1].base or "")
        if parent is None or parent in chain:
            break
        chain.append(parent)
    return chain


def _collect(ctx: ScanContext, use: PipUse, inputs: StageInputs) -> None:
    for req in use.install.requirements:
        if req.is_local_dir:
            _project(ctx, use, req, inputs)
        else:
            _add(req, inputs, ctx.path)
    for inc in use.files:
        _collect_file(inc, inputs)


def _collect_file(inc: Included, inputs: StageInputs) -> None:
    """A `-r` file's requirements, a `-c` file's pins."""
    rel = inc.file.rel or ""
    if posixpath.basename(rel).startswith(LOCK_PREFIX):
        return  # our own lock from an earlier run: regenerated, never an input
    for line in inc.file.requirements:
        if inc.kind == "constraint":
            req = line.requirement
            if req is not None and req.kind == "requirement" and req.pinned:
                inputs.constraints.append(_pep508(req))
        else:
            _add(line.requirement, inputs, inc.file.source.path)


def _installer(inputs: StageInputs, inst: Instruction) -> None:
    if inst not in inputs.installers:
        inputs.installers.append(inst)


def _collect_env(ctx: ScanContext, use: CondaEnvUse, inputs: StageInputs) -> None:
    """The `pip:` list of an environment file: conda writes it to a requirements file next
    to the environment file and runs `python -m pip install -U -r` on it there, with the
    environment of the RUN (so PIP_CONSTRAINT applies), in the environment's own Python."""
    env = use.env
    assert env is not None
    for entry in env.pip:
        text = entry.text.strip()
        if text.startswith(("-r", "--requirement", "-c", "--constraint")):
            for inc in env_pip_files(ctx, use, text):
                _collect_file(inc, inputs)
            continue
        if text.startswith(("-e ", "--editable ", "--editable=")):
            text = re.sub(r"^(?:-e|--editable)[=\s]+", "", text)
        elif text.startswith("-"):
            continue  # --extra-index-url and other pip options
        req = classify_requirement(text, Word(text, text, entry.offset, entry.end_offset))
        if req.is_local_dir:
            _project_at(ctx, use.inst, req, use.folder, inputs)
        else:
            _add(req, inputs, use.source.path)
    python = env.python()
    if python is not None:  # "": named without a version; the conda fix pins the snapshot's
        inputs.python = python or CONDA_PYTHON
    inputs.fresh_env |= use.fresh
    for spec in env.conda_specs():
        if spec.name not in _NOT_PYPI:  # conda installs it: the lock leaves it to conda
            name = _CONDA_TO_PYPI.get(spec.name, canonicalize_name(spec.name))
            inputs.conda[name] = conda_specifier(spec) or ""
    inputs.paths.add(os.path.realpath(use.source.path))


# conda packages whose PyPI project has another name; `python`/`pip` are no PyPI constraints.
_CONDA_TO_PYPI = {"pytorch": "torch", "pytorch-cpu": "torch", "pytorch-gpu": "torch",
                  "py-opencv": "opencv-python"}
_NOT_PYPI = frozenset({"python", "pip", "setuptools", "wheel"})


def conda_specifier(spec: CondaSpec) -> str | None:
    """A conda version constraint as a PEP 440 specifier: `=1.2` and `1.2` are conda's fuzzy
    1.2.*, `==1.2.3` is exact, `>=1,<2` reads the same; a build string (`=1.2=py310_0`) is
    dropped. None for no version, a variable, an OR (`|`) or what does not parse."""
    if spec.unresolved:
        return None
    rest = spec.constraint.strip()
    bracket = re.search(r"version\s*=\s*['\"]?([^'\"\]]+)", rest) if rest[:1] == "[" else None
    rest = bracket.group(1).strip() if bracket else rest
    if not rest or "|" in rest:
        return None
    if rest.startswith("==") or rest[:1] in "=0123456789":
        exact = rest.startswith("==")
        version = rest.lstrip("=").strip().split("=", 1)[0].split(" ", 1)[0]
        text = f"=={version}" if exact or version.endswith("*") else f"=={version}.*"
    else:
        text = rest
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        return str(SpecifierSet(text))
    except InvalidSpecifier:
        return None


def _project(ctx: ScanContext, use: PipUse, req: PipRequirement, inputs: StageInputs) -> None:
    """`pip install .[extra]`: the project's declared dependencies join the set."""
    if use.install.has("--no-deps"):
        return
    _project_at(ctx, use.inst, req, cwd_for(use.inst, use.install.command), inputs)


def _project_at(ctx: ScanContext, inst: Instruction, req: PipRequirement, cwd: str,
                inputs: StageInputs) -> None:
    path, extras = req.text, ()
    match = _EXTRAS.search(path)
    if match:
        extras = tuple(e.strip() for e in match.group(1).split(",") if e.strip())
        path = path[: match.start()]
    for marker in ("pyproject.toml", "setup.py", "setup.cfg"):
        found = locate(ctx, inst, posixpath.join(path, marker), cwd)
        if found is not None and found.rel is not None:
            folder = posixpath.dirname(found.rel)
            for declared in project_dependencies(ctx.context_file, folder, extras):
                _add(classify_requirement(declared.text, req.word), inputs,
                     declared.source.path)
            return


# Installers a build puts in place to install the rest (`pip install uv`): standalone tools
# that nothing imports or depends on. Resolved with the application they add nothing but
# can sink it: uv had no release before 2024, so a 2023 cut-off made the stage unsatisfiable
# and every line of it was left unpinned. Their own lines are pinned like any other.
INSTALLERS = frozenset({"uv"})


def _add(req: PipRequirement | None, inputs: StageInputs, path: str) -> None:
    if req is None or (req.name and canonicalize_name(req.name) in INSTALLERS):
        return
    if req.kind != "requirement" or not req.name or req.missing_vars:
        if req.kind in ("vcs", "url", "path"):
            inputs.unresolved.append(req.text)
            name = req.name or _wheel_name(req.url or req.text)
            if name:
                inputs.direct.add(canonicalize_name(name))
        return
    text = _pep508(req)
    if text not in inputs.requirements:
        inputs.requirements.append(text)
    inputs.paths.add(os.path.realpath(path))


_GITHUB = re.compile(r"^git\+https?://github\.com/(?P<org>[^/]+)/(?P<project>[^/@#]+?)"
                     r"(?:\.git)?/?$")


def github_release_candidate(text: str) -> tuple[str, str, str] | None:
    """(name, extras, GitHub project) when `text` installs the default branch of a whole
    GitHub project (`git+https://github.com/org/peft`, `peft[x] @ git+...`, `...#egg=peft`):
    the PyPI release of the date can replace it (`fix` does; the closure resolves it)."""
    match = re.search(r"git\+[a-z]+://[^\s'\"#]+", text)
    if match is None or "subdirectory=" in text:  # a sub-package is another project
        return None
    url = match.group(0)
    path_start = url.find("/", url.index("://") + 3)
    if path_start != -1 and url.find("@", path_start) != -1:
        return None  # `@branch` asks for unreleased code, which a release would not have
    github = _GITHUB.match(url)
    if github is None:
        return None
    egg = re.search(r"#egg=([A-Za-z0-9_.-]+)", text)
    named = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*@\s*git\+", text)
    name = named.group(1) if named else egg.group(1) if egg else github.group("project")
    extras = (named.group(2) or "") if named else ""
    return name, extras, github.group("project")


def _wheel_name(location: str) -> str | None:
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    filename = location.split("#", 1)[0].split("?", 1)[0].rsplit("/", 1)[-1]
    try:
        return str(parse_wheel_filename(filename)[0]) if filename.endswith(".whl") else None
    except InvalidWheelFilename:
        return None


def _pep508(req: PipRequirement) -> str:
    """The requirement as the resolver should see it: no hashes, no local version label
    (`torch==2.1.0+cu121` lives on another index; its public release stands in)."""
    extras = f"[{','.join(req.extras)}]" if req.extras else ""
    spec = re.sub(r"\+[A-Za-z0-9.]+", "", req.specifier)
    marker = f"; {req.marker}" if req.marker else ""
    return f"{req.raw_name or req.name}{extras}{spec}{marker}"


def _names(requirements: list[str]) -> set[str]:
    out = set()
    for text in requirements:
        try:
            out.add(canonicalize_name(Requirement(text).name))
        except InvalidRequirement:
            continue
    return out


# -- resolution ------------------------------------------------------------------------------

def resolve_stages(dockerfile: Dockerfile, context_dir: str, snapshot: Snapshot,
                   online: bool, direct: frozenset[str] = frozenset(),
                   lookups: Lookups | None = None) -> list[Closure]:
    """`direct`: names whose install another fix turns into a file (a prebuilt CUDA wheel):
    the file decides their version, so the lock leaves them out, before and after that fix.
    `lookups`: the fix run's, so a GitHub install the fix replaces by its PyPI release is
    resolved as that release (the same closure before and after the fix)."""
    out = []
    for inputs in stage_inputs(dockerfile, context_dir):
        if lookups is not None:
            _released(inputs, lookups)
        inputs.previous_lock = _previous_lock(context_dir, inputs.stage)
        # Only where this stage installs it: another stage's lock keeps the snapshot's pin,
        # before the wheel fix and after it (a second run then writes the same locks).
        inputs.direct |= {canonicalize_name(n) for n in direct} & _names(inputs.requirements)
        # Their written lines are replaced by the file: resolving them would ask for versions
        # the build never installs (and fail on ranges no release satisfies).
        inputs.requirements = [r for r in inputs.requirements
                               if not _names([r]) & inputs.direct]
        base = base_facts(inputs.base)
        python = inputs.python or (base.python if base else snapshot.target.python)
        if python == CONDA_PYTHON:
            conda_python = snapshot.conda.get("python", "")
            python = ".".join(conda_python.split(".")[:2]) or snapshot.target.python
        shipped = {} if base is None or inputs.fresh_env else \
            {n: f"=={v}" for n, v in base.preinstalled.items()}
        closure = Closure(inputs.stage, python, base, inputs, {**shipped, **inputs.conda})
        if online:
            resolve_online(closure, snapshot)
        if not closure.checked and not closure.error:
            resolve_offline(closure, snapshot)
        out.append(closure)
    return out


def stage_lock_name(stage: Stage) -> str:
    """The lock file of one stage when several stages have one (else `LOCK_PREFIX.txt`)."""
    label = re.sub(r"[^A-Za-z0-9_.-]", "-", stage.name or str(stage.index))
    return f"{LOCK_PREFIX}-{label}.txt"


def _previous_lock(context_dir: str, stage: Stage) -> str:
    """This stage's lock from an earlier run (named as `constraints.lock_name` names it)."""
    for name in (stage_lock_name(stage), f"{LOCK_PREFIX}.txt"):
        path = os.path.join(context_dir, name)
        if os.path.isfile(path) and not os.path.islink(path):
            return path
    return ""


def _released(inputs: StageInputs, lookups: Lookups) -> None:
    """GitHub installs with a PyPI release of the date join the set as that release."""
    for text in list(inputs.unresolved):
        candidate = github_release_candidate(text)
        if candidate is None:
            continue
        name, extras, project = candidate
        pin = lookups.pypi_release(name, project)
        if pin.value is not None:
            inputs.unresolved.remove(text)
            inputs.direct.discard(canonicalize_name(name))
            if f"{name}{extras}=={pin.value}" not in inputs.requirements:
                inputs.requirements.append(f"{name}{extras}=={pin.value}")


def resolve_online(closure: Closure, snapshot: Snapshot, timeout: float = 600) -> None:
    """uv at the cut-off, isolated as `snapshot create` is; fills pins or error."""
    inputs = closure.inputs
    if not inputs.requirements:
        closure.checked = True
        return
    named = _names(inputs.requirements) | _names(inputs.constraints)
    shipped = [f"{n}{spec}" for n, spec in closure.shipped.items()
               if spec and n not in named]  # the submission's own pins win over the base's
    try:
        uv_bin = find_uv()
    except SnapshotError as exc:
        closure.note = exc.message
        return
    with tempfile.TemporaryDirectory(prefix="carpenter-closure-") as tmp:
        req_file, con_file = Path(tmp) / "stage.in", Path(tmp) / "constraints.txt"
        # Sorted: the same set in another order resolves the same way.
        req_file.write_text("\n".join(sorted(set(inputs.requirements))) + "\n")
        con_file.write_text("\n".join(sorted(set(inputs.constraints + shipped))) + "\n")
        cmd = [uv_bin, "pip", "compile", str(req_file), "-c", str(con_file), "--no-config",
               "--index-url", PYPI, "--no-sources",
               "--exclude-newer", cutoff_of(snapshot.as_of).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "--python-version", closure.python, "--python-platform", snapshot.target.platform,
               "--no-header", "--no-annotate", "--quiet", "--color", "never"]
        out_file = _preferences(inputs.previous_lock, Path(tmp))
        if out_file is not None:
            cmd += ["--output-file", str(out_file)]  # uv prefers the versions already there
        try:
            done = subprocess.run(cmd, cwd=tmp, env=isolated_env(), capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            closure.note = f"resolver timed out after {timeout:.0f} s"
            return
        if done.returncode == 0:
            closure.pins = _parse_pins(out_file.read_text() if out_file is not None
                                       else done.stdout)
            closure.checked = True
            return
    explanation = (done.stderr or done.stdout).strip()
    if any(word in explanation.lower() for word in _UNREACHABLE):
        closure.note = "no index reachable: " + explanation.splitlines()[-1][:200]
        return
    closure.error = "\n".join(explanation.splitlines()[-25:])


def _preferences(previous_lock: str, tmp: Path) -> Path | None:
    """A copy of the earlier lock's exact pins for uv's `--output-file` (bounds and comments
    dropped); None when there is none or it cannot be read."""
    if not previous_lock:
        return None
    try:
        with open(previous_lock, encoding="utf-8", errors="replace") as handle:
            text = handle.read(1_000_000)
    except OSError:
        return None
    pins = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    pins = [pin for pin in pins if re.fullmatch(r"[A-Za-z0-9._\-\[\],]+==[^\s;]+", pin)]
    if not pins:
        return None
    out = tmp / "previous-lock.txt"
    out.write_text("\n".join(pins) + "\n")
    return out


def _parse_pins(text: str) -> dict[str, str]:
    from carpenter.snapshot.create import parse_pins

    return parse_pins(text)


def resolve_offline(closure: Closure, snapshot: Snapshot) -> None:
    """Each written requirement: the snapshot's version when it is inside the line's range
    (one coherent resolution), else the newest in-range version of the dated index view.

    A version the snapshot did not choose (the dated index's, the base image's, one a line
    pins that the dated index does not list) may not be accepted by packages that require it
    (`xformers` pins `torch==2.1.0`), and an older one may need older versions of what it
    requires; offline nothing says which. So those packages, found in the snapshot's
    requirement graph (`_uncertain`), get a date bound instead of the snapshot's pin (`<=`
    the newest release of the date: pip still chooses, within the date, and takes that
    newest release unless something excludes it), and a written line among them is left
    alone. The rest of the snapshot keeps its exact pins. Without a graph, or next to a
    package the snapshot does not know, every pin of the snapshot not chosen for a written
    line becomes such a bound."""
    index = dated_index(snapshot)
    chosen, unknown, open_ = _offline_choices(closure, snapshot, index)
    # Versions other than the snapshot's: older ones (chosen inside a range, shipped by the
    # base; a range nothing is known in counts too), newer ones (chosen, or pinned by a line
    # to a release the dated index does not list: one made after the cut-off).
    older = {n for n, v in chosen.items() if n in snapshot.pypi
             and Version(v) < Version(snapshot.pypi[n])} | (open_ & snapshot.pypi.keys())
    newer = {n for n, v in chosen.items() if n in snapshot.pypi
             and Version(v) > Version(snapshot.pypi[n])} | (unknown & snapshot.pypi.keys())
    uncertain, why = _uncertain(older, newer, unknown - snapshot.pypi.keys(), snapshot)
    for name in sorted(uncertain & chosen.keys()):
        if closure.origins[name] == SNAPSHOT:  # its snapshot version may not fit any more
            closure.held[name] = why
            del chosen[name], closure.origins[name]
    written = chosen.keys() | unknown | open_  # their lines decide, not the lock
    closure.bounds = {n: _newest(n, snapshot, index) for n in sorted(uncertain - written)
                      if n in snapshot.pypi}
    rest = {n: v for n, v in snapshot.pypi.items() if n not in uncertain and n not in written}
    closure.origins.update(dict.fromkeys(rest, SNAPSHOT))
    closure.pins = {**rest, **chosen}
    closure.checked = False
    if uncertain:
        closure.note += ("; " if closure.note else "") + why


def _offline_choices(closure: Closure, snapshot: Snapshot, index: DatedIndex | None
                     ) -> tuple[dict[str, str], set[str], set[str]]:
    """(chosen versions, exact pins of versions nothing is known about, ranges nothing is
    known in) of the written requirements and of what is installed before pip runs."""
    chosen: dict[str, str] = {}
    unknown: set[str] = set()  # exact pins of versions offline data knows nothing about
    open_: set[str] = set()  # ranges offline data knows no version in
    for text in closure.inputs.requirements + closure.inputs.constraints:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        name = canonicalize_name(req.name)
        version = _offline_version(name, str(req.specifier), snapshot, index)
        if version is None and _exact(req) and index is not None and name in index:
            closure.note += ("; " if closure.note else "") + (
                f"offline: {req} is not among the releases the dated index view lists before "
                "the cut-off (released later, or yanked)")
        if version is None:
            if _exact(req):
                unknown.add(name)  # installed as written: pip cannot choose another
            else:  # a range nothing is known in: pip chooses within it at build time
                open_.add(name)
            continue
        if name not in chosen:
            chosen[name] = version
            closure.origins[name] = SNAPSHOT if snapshot.pypi.get(name) == version else INDEX
    for name, spec in closure.shipped.items():
        if name not in chosen and name not in open_ and name not in unknown:
            version = _offline_version(name, spec, snapshot, index)
            if version is None:
                open_.add(name)  # its installer chooses: not the snapshot's version
            else:
                chosen[name] = version
                closure.origins[name] = BASE
    return chosen, unknown, open_ - chosen.keys()


def _exact(req: Requirement) -> bool:
    return any(s.operator in ("==", "===") and "*" not in s.version for s in req.specifier)


def _uncertain(older: set[str], newer: set[str], blind: set[str], snapshot: Snapshot
               ) -> tuple[set[str], str]:
    """Snapshot packages whose exact pin may not fit next to versions the snapshot did not
    choose, and why. An older version may cap what it requires (fastapi 0.68 pins
    starlette==0.14.2), so what it requires gets a bound; packages that require either kind
    may not accept it (xformers pins torch==2.1.0). A newer version's own requirements rarely
    ask for less than the date had, and a bound of the date could not give more. `blind`:
    packages with requirements unknown offline (not in the snapshot)."""
    moved = older | newer
    if not moved and not blind:
        return set(), ""
    graph = requirement_graph(snapshot)
    blind = blind | {n for n in moved if graph is None or not graph.known(n)}
    if blind or graph is None:
        return (set(snapshot.pypi), f"offline: what {', '.join(sorted(blind))} require at the "
                "version installed here is unknown, so the snapshot's other pins became date "
                "bounds (not exact pins)")
    near = (graph.below(older) | graph.above(moved)) - moved
    return (near, f"offline: versions the snapshot did not choose ({', '.join(sorted(moved))}) "
            f"may need other versions of the {len(near)} packages they require or that "
            "require them, so those got date bounds (not exact pins)")


def _newest(name: str, snapshot: Snapshot, index: DatedIndex | None) -> str:
    """The newest release of the date (a bound that keeps later releases out)."""
    found = index.newest(name) if index is not None else None
    return str(found.version) if found is not None else snapshot.pypi[name]


def _offline_version(name: str, specifier: str, snapshot: Snapshot,
                     index: DatedIndex | None) -> str | None:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        spec = SpecifierSet(specifier)
    except InvalidSpecifier:
        return None
    known = snapshot.pypi.get(name)
    if known is not None and spec.contains(known, prereleases=True):
        return known
    found = index.newest(name, specifier) if index is not None else None
    return str(found.version) if found is not None else None


def dated_index(snapshot: Snapshot) -> DatedIndex | None:
    return load_index(snapshot.path) if snapshot.path is not None else None


def requirement_graph(snapshot: Snapshot) -> RequirementGraph | None:
    return load_graph(snapshot.path) if snapshot.path is not None else None


# -- what fix asks ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    version: str | None
    why: str = ""  # shown after the pin: where the version came from
    refusal: str = ""  # set when the line must be left alone


def closures_of(closures: list[Closure], stage: Stage | None, path: str | None) -> list[Closure]:
    """Closures a requirement takes part in: its stage's (and stages built FROM it), or
    those that read the requirements file at `path`."""
    if path is not None:
        real = os.path.realpath(path)
        return [c for c in closures if real in c.inputs.paths]
    if stage is None:
        return []
    return [c for c in closures if c.stage.index == stage.index]


def choose(closures: list[Closure], name: str, specifier: str, cutoff: str) -> Choice:
    """The version a written requirement is pinned to: what every closure it takes part in
    resolved, which lies inside the line's specifier since the resolver honoured it."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    key = canonicalize_name(name)
    failed = [c for c in closures if c.error]
    if failed:
        return Choice(None, refusal="the stage's requirements cannot be satisfied together at "
                      f"{cutoff} ({_judge(failed[0])}): " + _last_lines(failed[0].error))
    held = [c for c in closures if key in c.held]
    if held:
        bound = held[0].bounds.get(key)
        return Choice(None, refusal=f"{held[0].held[key]}; {name} is one of them"
                      + (f" (locked to <={bound})" if bound else "")
                      + ": run `carpenter fix` online to pin it")
    versions = {c.pins[key] for c in closures if key in c.pins}
    if len(versions) != 1:
        return Choice(None)  # not in any closure (a marker excludes it) or stages disagree
    version = versions.pop()
    try:
        inside = SpecifierSet(specifier).contains(version, prereleases=True)
    except InvalidSpecifier:
        inside = False
    if not inside:
        return Choice(None)
    if all(c.checked for c in closures if key in c.pins):
        why = f"resolved by uv at {cutoff}"
    elif any(key in c.from_index for c in closures):
        why = "dated index view, not checked by a resolver"
    else:
        why = "snapshot"  # the snapshot's own resolution: shown plainly, as before
    return Choice(version, why)


def _judge(closure: Closure) -> str:
    """Who found the conflict: uv, or (offline) the dated index view."""
    return "the dated index view" if closure.error.startswith("offline:") else "uv"


def _last_lines(text: str, count: int = 6) -> str:
    return " ".join(line.strip() for line in text.splitlines()[-count:] if line.strip())


def lock_text(closure: Closure, snapshot: Snapshot, cutoff: str) -> str:
    base = (closure.inputs.base or "?").split("@", 1)[0]  # a digest added later: same lock
    if closure.checked:
        how = f"resolved by uv at {cutoff} for Python {closure.python}: every pin below was " \
              "checked by a resolver"
        lines = [f"# pip closure of stage {closure.stage.index} (FROM {base}): {how}."]
    else:
        lines = [f"# pip closure of stage {closure.stage.index} (FROM {base}): chosen offline "
                 f"from snapshot {snapshot.name} at {cutoff}, NOT checked by a resolver as a "
                 "whole: run `carpenter fix` online to check it.",
                 "# Per pin: `snapshot` = the snapshot's own uv resolution (checked together "
                 "with the snapshot's other pins, not with this stage's set); `index` = the "
                 "newest in-range version of the date (dated index view, not checked by a "
                 "resolver); `bound` = no exact version is known offline, so only releases up "
                 "to the newest of the date are allowed."]
    lines.append("# Written by `carpenter fix`; regenerated on every run. pip/setuptools/wheel "
                 "and what the base image ships stay free.")
    for name, version in sorted(closure.lock_pins.items()):
        tag = "" if closure.checked else f"  # {closure.origins.get(name, SNAPSHOT)}"
        lines.append(f"{name}=={version}{tag}")
    lines += [f"{name}<={version}  # bound" for name, version in
              sorted(closure.lock_bounds.items())]
    return "\n".join(lines) + "\n"


def _offline_summary(closure: Closure) -> str:
    counts = {SNAPSHOT: 0, INDEX: 0, BASE: 0}
    for name in closure.lock_pins:
        counts[closure.origins.get(name, SNAPSHOT)] += 1
    parts = [f"{counts[SNAPSHOT]} from the snapshot's resolution (checked by uv with the "
             "snapshot, not with this stage's set)",
             f"{counts[INDEX]} from the dated index view (not checked by a resolver)"]
    if counts[BASE]:
        parts.append(f"{counts[BASE]} as the base image ships them")
    if closure.lock_bounds:
        parts.append(f"{len(closure.lock_bounds)} date bounds (`<=` the newest of the date)")
    return f"{len(closure.lock_pins)} pins chosen offline, not checked by a resolver: " + \
        ", ".join(parts)


def closure_notes(job) -> list[str]:
    """One line per stage: how its closure was decided, so a user sees what a resolver
    checked and what it did not."""
    cutoff = cutoff_of(job.snapshot.as_of).strftime("%Y-%m-%dT%H:%MZ")
    notes = []
    for c in job.closures:
        base = c.inputs.base.split("@", 1)[0] or "?"
        where = f"stage {c.stage.index} (FROM {base}, Python {c.python})"
        if c.error:
            notes.append(f"{where}: its requirements cannot be satisfied together at {cutoff}; "
                         f"lines left as written. {_judge(c)} says: {_last_lines(c.error, 12)}")
            continue
        extra = f"; {c.note}" if c.note else ""
        if c.checked:
            notes.append(f"{where}: {len(c.lock_pins)} pins resolved by uv (checked by a "
                         f"resolver) at {cutoff}{extra}")
        else:
            notes.append(f"{where}: {_offline_summary(c)} at {cutoff}{extra}")
        if c.inputs.unresolved:
            notes.append(f"{where}: left out of the resolution (their own dependencies are not "
                         f"locked): {', '.join(c.inputs.unresolved)}")
    return notes
