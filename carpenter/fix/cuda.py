"""CUDA extensions built from source (flash-attn, ...): use the prebuilt wheel that matches the
image's torch / CUDA / Python / C++ ABI, or pin the version and cap the compile's parallelism.

A source build of flash-attn takes hours on a CI runner and, with the default parallelism, runs
out of memory; a wheel for the wrong torch or CUDA imports with "undefined symbol".
"""

from __future__ import annotations

import re

from carpenter.fix.context import Change, Job, Outcome, pip_install_args
from carpenter.fix.edits import Edit
from carpenter.fix.pinning import fix_pip
from carpenter.fix.pipreq import parse
from carpenter.model.dockerfile import Stage, stage_chain
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import CudaBuild

_TORCH_PIN = re.compile(r"\btorch==(\d+\.\d+(?:\.\d+)?)")
_CUDA_IN_TAG = re.compile(r"cuda[:\-]?(\d+)\.(\d+)")
_PYTORCH_TAG = re.compile(r"pytorch/pytorch:(\d+\.\d+)")
_PY_TAG = re.compile(r"(?:^|/)python:(\d\.\d+)")
_WHEEL_INDEX = re.compile(r"download\.pytorch\.org/whl/cu(\d+)(\d)\b")


def image_facts(job: Job, offset: int) -> tuple[str | None, str | None, str | None]:
    """(torch, cuda, python) the extension must match, from the finding's stage (and the stages
    it builds on), else what the stage's closure pins, else the snapshot. Another stage's
    `torch==` says nothing about this one; and the closure's torch is what this same run writes,
    so a second run reads the same version (fix --write stays idempotent)."""
    stage = job.stage_at(offset)
    text = _stage_text(job, stage, offset)
    image = job.root_image(stage)
    installs_torch = "torch" in job.installed
    torch = None
    if pins := _TORCH_PIN.findall(text):
        torch = pins[-1]  # the torch in place when the extension builds: the latest install
    elif (pinned := _closure_pin(job, stage, "torch")) is not None:
        torch = pinned
    elif not installs_torch and (m := _PYTORCH_TAG.search(image)) is not None:
        torch = m.group(1)  # torch preinstalled in the pytorch/pytorch image
    else:
        torch, _ = job.version_for("torch")
    cuda = None
    if (m := _WHEEL_INDEX.search(text)) is not None:
        cuda = f"{m.group(1)}.{m.group(2)}"
    elif installs_torch:
        cuda = job.snapshot.target.cuda  # PyPI's Linux torch wheels carry their own CUDA
    elif (m := _CUDA_IN_TAG.search(image)) is not None:
        cuda = f"{m.group(1)}.{m.group(2)}"
    python = None
    if (m := _PY_TAG.search(image)) is not None:
        python = m.group(1)
    return torch, cuda or job.snapshot.target.cuda, python


def _stage_text(job: Job, stage: Stage | None, offset: int) -> str:
    """The text of what is built before the instruction at `offset` ends: the stages this
    stage builds on, then this stage's instructions up to that one."""
    source = job.dockerfile.source.text
    if stage is None:
        return source[:offset]
    parts: list[str] = []
    for one in stage_chain(stage):
        for inst in [one.instruction, *one.instructions]:
            if one is stage and inst.offset > offset:
                break
            parts.append(source[inst.offset:inst.end_offset])
    return "\n".join(parts)


def _closure_pin(job: Job, stage: Stage | None, name: str) -> str | None:
    for closure in job.closures:
        if stage is not None and closure.stage.index == stage.index and not closure.error:
            return closure.pins.get(name)
    return None


def fix_cuda_build(finding: Finding, payload: CudaBuild, job: Job) -> Outcome:
    if not job.is_dockerfile(finding):
        return fix_pip(finding, job)
    located = job.command_at(finding.offset)
    if located is None or pip_install_args(located[1]) is None:
        return Outcome.skip("not a pip install of the extension (a setup.py build?): install "
                            "the prebuilt wheel or pin the source and set MAX_JOBS by hand")
    inst, cmd = located
    word = job.word_at(finding.offset)
    if word is None:
        return Outcome.skip("cannot find the extension's requirement")
    req = parse(word.text)
    package = payload.package or (req.name if req else None)
    if not package:
        return Outcome.skip("cannot tell which CUDA extension this installs")
    torch, cuda, python = image_facts(job, finding.offset)
    # The rule's own reading of the image (ImageEnv) wins where it has one.
    torch = payload.torch or torch
    cuda = payload.cuda or cuda
    python = payload.python or python
    wheel = job.snapshot.cuda_wheel(package, torch, cuda, python)
    if wheel is not None:
        start = _editable_flag_start(cmd, word) if req is None else word.offset
        return Outcome([Change(finding.path, Edit(start, word.end_offset, wheel.url))],
                       summary=f"{word.text} -> prebuilt wheel {wheel.url.rsplit('/', 1)[-1]}")
    if req is None:
        return Outcome.skip(f"{package} is built from a clone or archive and snapshot "
                            f"{job.snapshot.name} has no prebuilt wheel for torch {torch}, "
                            f"CUDA {cuda}: pin the clone's commit and set MAX_JOBS by hand")
    pinned = fix_pip(finding, job)
    if pinned.skipped and pinned.skipped != "already pinned":
        return pinned
    notes = [f"no prebuilt {package} wheel for torch {torch}, CUDA {cuda}, Python "
             f"{python or job.snapshot.target.python} in snapshot {job.snapshot.name}: it "
             f"compiles from source (hours, several GB of RAM per job); MAX_JOBS="
             f"{job.max_jobs} caps the parallel compiles"]
    changes = list(pinned.changes)
    if not _sets_max_jobs(job, cmd, inst):
        at = cmd.words[0].offset if not cmd.assignments else cmd.assignments[0].offset
        changes.append(Change(finding.path, Edit(at, at, f"MAX_JOBS={job.max_jobs} ")))
    if not changes:
        return Outcome.skip("already pinned and MAX_JOBS is set")
    return Outcome(changes, notes=notes,
                   summary=(pinned.summary + ", " if pinned.summary else "")
                   + f"MAX_JOBS={job.max_jobs}")


def _editable_flag_start(cmd, word) -> int:
    """`-e /src/flash-attention`: the wheel replaces the flag too (a wheel is not editable)."""
    index = next((i for i, w in enumerate(cmd.words) if w is word or w == word), None)
    if index and cmd.words[index - 1].text in ("-e", "--editable"):
        return cmd.words[index - 1].offset
    return word.offset


def _sets_max_jobs(job: Job, cmd, inst) -> bool:
    if any(a.text.startswith("MAX_JOBS=") for a in cmd.assignments):
        return True
    return "MAX_JOBS" in (inst.vars or {})
