"""Map an in-image path back to the build-context file that a COPY/ADD put there.

`RUN pip install -r requirements.txt` after `WORKDIR /app` + `COPY . /app` reads the context's
`requirements.txt`. The WORKDIR in force (and `cd` earlier in the same RUN) gives the absolute
in-image path; the latest COPY/ADD (or `RUN --mount=type=bind`) whose destination covers that
path gives the context path. `COPY --from` (another stage or image) is not the context.
"""

from __future__ import annotations

import bisect
import fnmatch
import posixpath
from collections.abc import Callable

from carpenter.core.records import record
from carpenter.model.dockerfile import Heredoc, Instruction, Stage
from carpenter.model.shell import SimpleCommand, scripts_of
from carpenter.model.variables import expand

IsDir = Callable[[str], bool | None]  # context-relative path -> is a directory (None: unknown)


@record(eq=False, slots=True)
class ContextSource:
    """Where an in-image file came from."""

    rel: str | None  # build-context-relative path (posix, no leading ./); None for a heredoc
    instruction: Instruction  # the COPY/ADD/RUN --mount that placed it
    heredoc: Heredoc | None = None  # `COPY <<EOF /app/requirements.txt`


@record(eq=False, slots=True)
class CopySpec:
    """Where a COPY/ADD puts its sources in the image."""

    instruction: Instruction
    sources: list[str]
    dest: str  # absolute in-image path
    dest_is_dir: bool


def workdir_at(inst: Instruction) -> str:
    """The WORKDIR in force when `inst` runs (a `FROM <stage>` inherits the stage's WORKDIR)."""
    stage = inst.stage
    if stage is None:
        return "/"
    return _stage_facts(stage)[0].get(id(inst), "/")


def _stage_facts(stage: Stage) -> tuple[dict[int, str], list[int], list[CopySpec], str]:
    """Once per stage: WORKDIR before each instruction, context COPY/ADDs, final WORKDIR."""
    cached = getattr(stage, "_copy_facts", None)
    if cached is not None:
        return cached
    parent = stage.parent
    cwd = "/"
    indices: list[int] = []
    specs: list[CopySpec] = []
    if parent is not None and parent is not stage and parent.instructions:
        _, parent_indices, parent_specs, cwd = _stage_facts(parent)
        indices = [-1] * len(parent_indices)  # everything the parent copied comes first
        specs = list(parent_specs)
    workdirs: dict[int, str] = {}
    for other in stage.instructions:
        workdirs[id(other)] = cwd
        if other.keyword == "WORKDIR":
            cwd = _join(cwd, _expand(other.args.strip(), other))
        elif other.keyword in ("COPY", "ADD") and "from" not in other.flags:
            spec = _copy_spec(other, workdirs[id(other)])
            if spec is not None:
                indices.append(other.index)
                specs.append(spec)
    facts = (workdirs, indices, specs, cwd)
    stage._copy_facts = facts  # type: ignore[attr-defined]
    return facts


def cwd_for(inst: Instruction, cmd: SimpleCommand | None = None) -> str:
    """Working directory of a command in a RUN: WORKDIR plus earlier `cd`s in the same RUN."""
    if cmd is None:
        return workdir_at(inst)
    cwds = getattr(inst, "_command_cwds", None)
    if cwds is None:
        cwds = _command_cwds(inst)
        inst._command_cwds = cwds  # type: ignore[attr-defined]
    return cwds.get(id(cmd), workdir_at(inst))


def _command_cwds(inst: Instruction) -> dict[int, str]:
    cwd = workdir_at(inst)
    found: dict[int, str] = {}
    for script in scripts_of(inst):
        for other in script.commands:
            found[id(other)] = cwd
            if other.nested or not other.words:
                continue
            if other.words[0].text == "cd" and len(other.words) > 1:
                target = other.words[-1].text
                if not target.startswith("-"):
                    cwd = _join(cwd, _expand(target, inst))
            elif other.words[0].text == "pushd" and len(other.words) > 1:
                cwd = _join(cwd, _expand(other.words[1].text, inst))
    return found


def copies_before(inst: Instruction) -> list[CopySpec]:
    """COPY/ADD (context sources only) and bind mounts of the stage, up to `inst`, in order."""
    stage = inst.stage
    if stage is None:
        return []
    _, indices, specs, _ = _stage_facts(stage)
    out = specs[: bisect.bisect_right(indices, inst.index)]
    if inst.keyword == "RUN":
        out = out + _bind_mounts(inst)
    return out


def _copy_spec(inst: Instruction, workdir: str) -> CopySpec | None:
    if inst.json_args is not None:
        parts = [_expand(a, inst) for a in inst.json_args]
    else:
        parts = [_expand(t.text, inst) for t in inst.tokens]
    heredoc_names = {h.name for h in inst.heredocs}
    parts = [p for p in parts if not p.startswith("<<")]
    if len(parts) < 1 or (len(parts) < 2 and not heredoc_names):
        return None
    dest_raw = parts[-1]
    sources = parts[:-1]
    dest = _join(workdir, dest_raw)
    dest_is_dir = dest_raw.endswith("/") or dest_raw in (".", "./") or (
        len(sources) + len(heredoc_names) > 1
    )
    return CopySpec(inst, sources, dest, dest_is_dir)


def _bind_mounts(inst: Instruction) -> list[CopySpec]:
    """`RUN --mount=type=bind,source=requirements.txt,target=/tmp/r.txt` reads the context."""
    out = []
    for token in inst.flag_tokens:
        if not token.text.startswith("--mount="):
            continue
        fields = dict(
            part.partition("=")[::2] for part in token.text[len("--mount="):].split(",")
        )
        if fields.get("type", "bind") != "bind" or "from" in fields:
            continue
        target = fields.get("target") or fields.get("dst") or fields.get("destination")
        if not target:
            continue
        source = fields.get("source") or fields.get("src") or "."
        out.append(CopySpec(inst, [source], _join("/", target), source in (".", "./")))
    return out


def context_source(
    inst: Instruction, image_path: str, cwd: str | None = None, is_dir: IsDir | None = None
) -> ContextSource | None:
    """The context file that ends up at `image_path` when `inst` runs, or None if unknown."""
    target = _join(cwd or workdir_at(inst), image_path)
    for spec in reversed(copies_before(inst)):
        prefix = spec.dest.rstrip("/") + "/"
        if target != spec.dest and not target.startswith(prefix):
            continue  # every way a COPY places a file puts it at or under its destination
        found = _match(spec, target, is_dir)
        if found is not None:
            return found
    return None


def _match(spec: CopySpec, target: str, is_dir: IsDir | None) -> ContextSource | None:
    inst = spec.instruction
    for doc in inst.heredocs:
        placed = posixpath.join(spec.dest, doc.name) if spec.dest_is_dir else spec.dest
        if placed == target:
            return ContextSource(None, inst, doc)
    for raw in spec.sources:
        if "://" in raw:
            continue  # ADD <url>: not the context
        src = _clean(raw)
        src_is_dir = src == "" or (is_dir(src) if is_dir else None)
        if src_is_dir is None:
            src_is_dir = "." not in posixpath.basename(src) and not _has_glob(src)
        if src_is_dir:
            # A directory's *contents* land in dest.
            if target == spec.dest or target.startswith(spec.dest.rstrip("/") + "/"):
                rest = posixpath.relpath(target, spec.dest)
                return ContextSource(_clean(posixpath.join(src, rest)), inst)
            continue
        if _has_glob(src):
            parent = posixpath.dirname(target)
            if parent == spec.dest and fnmatch.fnmatch(posixpath.basename(target),
                                                      posixpath.basename(src)):
                return ContextSource(
                    _clean(posixpath.join(posixpath.dirname(src), posixpath.basename(target))),
                    inst,
                )
            continue
        placed = posixpath.join(spec.dest, posixpath.basename(src)) if spec.dest_is_dir else (
            spec.dest
        )
        if placed == target:
            return ContextSource(src, inst)
        if not spec.dest_is_dir and spec.dest == posixpath.dirname(target) and (
            posixpath.basename(target) == posixpath.basename(src)
        ):
            # `COPY requirements.txt /app` where /app is an existing directory in the image.
            return ContextSource(src, inst)
    return None


def _clean(path: str) -> str:
    cleaned = posixpath.normpath("/" + path).lstrip("/")
    return "" if cleaned in (".", "") else cleaned


def _has_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


def _join(cwd: str, path: str) -> str:
    if not path:
        return cwd
    return posixpath.normpath(posixpath.join(cwd or "/", path))


def _expand(text: str, inst: Instruction) -> str:
    return expand(text, inst.vars)[0] if "$" in text else text
