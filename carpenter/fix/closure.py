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

from carpenter.core.errors import ConfigError, SnapshotError
from carpenter.core.resources import data_dir
from carpenter.model.copies import cwd_for
from carpenter.model.dockerfile import Dockerfile, Stage
from carpenter.model.pip import PipRequirement, classify_requirement
from carpenter.model.project import project_dependencies
from carpenter.scan.config import ScanConfig
from carpenter.scan.context import ScanContext
from carpenter.scan.facts import PipUse, locate, pip_uses
from carpenter.snapshot.create import PYPI, cutoff_of, find_uv, isolated_env
from carpenter.snapshot.index import DatedIndex, load_index
from carpenter.snapshot.model import Snapshot, normalize_image_ref

LOCK_PREFIX = "carpenter-constraints"
# Build tooling stays free in the lock: PIP_CONSTRAINT also binds pip's isolated build
# environments, where an old setuptools breaks newer sdists.
BUILD_TOOLS = frozenset({"pip", "setuptools", "wheel"})
_EXTRAS = re.compile(r"\[([^\]]*)\]$")
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


@dataclass
class Closure:
    stage: Stage
    python: str
    base: BaseFacts | None
    inputs: StageInputs
    pins: dict[str, str] = field(default_factory=dict)  # canonical name -> version
    checked: bool = False  # True: uv resolved the whole set; False: the dated index view
    error: str = ""  # uv's explanation when the submission's pins cannot hold together
    note: str = ""
    # Offline: versions the dated index view chose where the snapshot's did not fit a range.
    from_index: set[str] = field(default_factory=set)

    @property
    def lock_pins(self) -> dict[str, str]:
        """What the lock holds: the closure minus build tools and what the base ships."""
        shipped = set(self.base.preinstalled) if self.base else set()
        named = _names(self.inputs.requirements)
        # A package installed from a URL or VCS is that file's version: a pin would fight it.
        return {n: v for n, v in self.pins.items()
                if n not in BUILD_TOOLS and n not in self.inputs.direct
                and (n not in shipped or n in named)}


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
    out = []
    for stage in dockerfile.stages:
        chain = _chain(dockerfile, stage)
        parts = [own[s.index] for s in chain if s.index in own]
        if stage.index not in own:
            continue  # a stage that installs nothing itself needs no lock of its own
        merged = StageInputs(stage, chain[-1].base or chain[-1].base_raw or "")
        for part in reversed(parts):  # the base stage first: what it installed stays
            merged.requirements += [r for r in part.requirements if r not in merged.requirements]
            merged.constraints += [c for c in part.constraints if c not in merged.constraints]
            merged.paths |= part.paths
            merged.unresolved += part.unresolved
            merged.direct |= part.direct
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
        rel = inc.file.rel or ""
        if posixpath.basename(rel).startswith(LOCK_PREFIX):
            continue  # our own lock from an earlier run: regenerated, never an input
        for line in inc.file.requirements:
            if inc.kind == "constraint":
                req = line.requirement
                if req is not None and req.kind == "requirement" and req.pinned:
                    inputs.constraints.append(_pep508(req))
            else:
                _add(line.requirement, inputs, inc.file.source.path)


def _project(ctx: ScanContext, use: PipUse, req: PipRequirement, inputs: StageInputs) -> None:
    """`pip install .[extra]`: the project's declared dependencies join the set."""
    if use.install.has("--no-deps"):
        return
    path, extras = req.text, ()
    match = _EXTRAS.search(path)
    if match:
        extras = tuple(e.strip() for e in match.group(1).split(",") if e.strip())
        path = path[: match.start()]
    cwd = cwd_for(use.inst, use.install.command)
    for marker in ("pyproject.toml", "setup.py", "setup.cfg"):
        found = locate(ctx, use.inst, posixpath.join(path, marker), cwd)
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
                   online: bool, direct: frozenset[str] = frozenset()) -> list[Closure]:
    """`direct`: names whose install another fix turns into a file (a prebuilt CUDA wheel):
    the file decides their version, so the lock leaves them out, before and after that fix."""
    out = []
    for inputs in stage_inputs(dockerfile, context_dir):
        inputs.direct |= {canonicalize_name(n) for n in direct}
        # Their written lines are replaced by the file: resolving them would ask for versions
        # the build never installs (and fail on ranges no release satisfies).
        inputs.requirements = [r for r in inputs.requirements
                               if not _names([r]) & inputs.direct]
        base = base_facts(inputs.base)
        closure = Closure(inputs.stage, base.python if base else snapshot.target.python, base,
                          inputs)
        if online:
            resolve_online(closure, snapshot)
        if not closure.checked and not closure.error:
            resolve_offline(closure, snapshot)
        out.append(closure)
    return out


def resolve_online(closure: Closure, snapshot: Snapshot, timeout: float = 600) -> None:
    """uv at the cut-off, isolated as `snapshot create` is; fills pins or error."""
    inputs = closure.inputs
    if not inputs.requirements:
        closure.checked = True
        return
    named = _names(inputs.requirements) | _names(inputs.constraints)
    shipped = [f"{n}=={v}" for n, v in (closure.base.preinstalled if closure.base else {}).items()
               if n not in named]  # the submission's own pins always win over the base's
    try:
        uv_bin = find_uv()
    except SnapshotError as exc:
        closure.note = exc.message
        return
    with tempfile.TemporaryDirectory(prefix="carpenter-closure-") as tmp:
        req_file, con_file = Path(tmp) / "stage.in", Path(tmp) / "constraints.txt"
        req_file.write_text("\n".join(inputs.requirements) + "\n")
        con_file.write_text("\n".join(inputs.constraints + shipped) + "\n")
        cmd = [uv_bin, "pip", "compile", str(req_file), "-c", str(con_file), "--no-config",
               "--index-url", PYPI, "--no-sources",
               "--exclude-newer", cutoff_of(snapshot.as_of).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "--python-version", closure.python, "--python-platform", snapshot.target.platform,
               "--no-header", "--no-annotate", "--quiet", "--color", "never"]
        try:
            done = subprocess.run(cmd, cwd=tmp, env=isolated_env(), capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            closure.note = f"resolver timed out after {timeout:.0f} s"
            return
    if done.returncode == 0:
        closure.pins = _parse_pins(done.stdout)
        closure.checked = True
        return
    explanation = (done.stderr or done.stdout).strip()
    if any(word in explanation.lower() for word in _UNREACHABLE):
        closure.note = "no index reachable: " + explanation.splitlines()[-1][:200]
        return
    closure.error = "\n".join(explanation.splitlines()[-25:])


def _parse_pins(text: str) -> dict[str, str]:
    from carpenter.snapshot.create import parse_pins

    return parse_pins(text)


def resolve_offline(closure: Closure, snapshot: Snapshot) -> None:
    """Each written requirement: the snapshot's version when it is inside the line's range
    (one coherent resolution), else the newest in-range version of the dated index view.

    The rest of the snapshot joins the lock only while every choice agrees with the snapshot:
    a version it did not choose may need other dependencies than the ones it pinned."""
    index = dated_index(snapshot)
    chosen: dict[str, str] = {}
    missing: list[str] = []  # no in-range version known offline: never the snapshot's
    deviates = False
    for text in closure.inputs.requirements + closure.inputs.constraints:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        name = canonicalize_name(req.name)
        version = _offline_version(name, str(req.specifier), snapshot, index)
        if version is None:
            missing.append(name)
        elif name not in chosen:
            chosen[name] = version
            if snapshot.pypi.get(name) != version:
                deviates = True
                closure.from_index.add(name)
    for name, version in (closure.base.preinstalled if closure.base else {}).items():
        chosen.setdefault(name, version)
    rest = {} if deviates else {n: v for n, v in snapshot.pypi.items() if n not in missing}
    closure.pins = {**rest, **chosen}
    closure.checked = False
    if deviates:
        closure.note += ("; " if closure.note else "") + \
            "offline: dependencies of versions the snapshot did not choose are not locked"


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
                      f"{cutoff} (uv): " + _last_lines(failed[0].error))
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


def _last_lines(text: str, count: int = 6) -> str:
    return " ".join(line.strip() for line in text.splitlines()[-count:] if line.strip())


def lock_text(closure: Closure, snapshot: Snapshot, cutoff: str) -> str:
    how = (f"resolved by uv at {cutoff} for Python {closure.python} (checked by a resolver)"
           if closure.checked else
           f"chosen from snapshot {snapshot.name} and its dated index view at {cutoff} "
           "(NOT checked by a resolver: run `carpenter fix` online to check it)")
    base = (closure.inputs.base or "?").split("@", 1)[0]  # a digest added later: same lock
    lines = [f"# pip closure of stage {closure.stage.index} (FROM {base}): {how}.",
             "# Written by `carpenter fix`; regenerated on every run. pip/setuptools/wheel and "
             "what the base image ships stay free."]
    lines += [f"{name}=={version}" for name, version in sorted(closure.lock_pins.items())]
    return "\n".join(lines) + "\n"


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
                         f"lines left as written. uv says: {_last_lines(c.error, 12)}")
            continue
        how = "resolved by uv (checked by a resolver)" if c.checked else \
            "chosen from the snapshot's dated index view (not checked by a resolver)"
        extra = f"; {c.note}" if c.note else ""
        notes.append(f"{where}: {len(c.lock_pins)} pins {how} at {cutoff}{extra}")
        if c.inputs.unresolved:
            notes.append(f"{where}: left out of the resolution (their own dependencies are not "
                         f"locked): {', '.join(c.inputs.unresolved)}")
    return notes
