"""apt: freeze the package sources at the snapshot date instead of pinning `pkg=version`.

Exact apt pins rot: Debian and Ubuntu drop superseded versions from the live archives within
weeks, so a pinned build fails later with "version not found" (hadolint DL3008's trouble).
A dated snapshot archive keeps serving the whole archive as it was, so one line before the
first `apt-get update` makes every later install resolve as of the snapshot date.

http, not https: slim images lack ca-certificates before their first install, and apt checks
the signed Release files anyway. Check-Valid-Until is off because old Release files have
expired by design.
"""

from __future__ import annotations

import re

from carpenter.fix.context import Change, Job, Outcome
from carpenter.fix.edits import Edit
from carpenter.model.dockerfile import Instruction, Stage
from carpenter.model.shell import all_commands
from carpenter.scan.finding import Finding

MARKERS = ("snapshot.debian.org", "snapshot.ubuntu.com", "--snapshot")
_UBUNTU_HINTS = ("ubuntu", "nvidia/cuda", "pytorch/pytorch", "nvcr.io/nvidia")
_DEBIAN_HINTS = ("debian", "python:", "python3", "buildpack-deps", "node:", "bookworm",
                 "bullseye", "buster", "trixie", "-slim")


def distro_of(image: str) -> str | None:
    lowered = image.lower()
    if any(h in lowered for h in _UBUNTU_HINTS):
        return "ubuntu"
    if any(h in lowered for h in _DEBIAN_HINTS):
        return "debian"
    return None


def _http(url: str) -> str:
    return "http://" + url.split("://", 1)[1] if "://" in url else url


def sources_command(distro: str, url: str, security_url: str) -> str:
    """One RUN line rewriting every apt source file present (one-line and deb822 formats)."""
    url, security = _http(url).rstrip("/"), _http(security_url or url).rstrip("/")
    if distro == "ubuntu":
        seds = (f"-e 's#https\\?://\\(archive\\|security\\)\\.ubuntu\\.com/ubuntu/\\?#"
                f"{url}/#g'")
    else:
        seds = (f"-e 's#https\\?://\\(deb\\|security\\)\\.debian\\.org/debian-security/\\?#"
                f"{security}/#g' "
                f"-e 's#https\\?://deb\\.debian\\.org/debian/\\?\\([[:space:]]\\|$\\)#{url}/\\1#g'")
    return (
        "RUN for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list "
        "/etc/apt/sources.list.d/*.sources; do if [ -f \"$f\" ]; then "
        f"sed -i {seds} \"$f\"; fi; done && "
        "echo 'Acquire::Check-Valid-Until \"false\";' > /etc/apt/apt.conf.d/99snapshot"
    )


def _uses_apt(inst: Instruction) -> bool:
    for _, cmd in all_commands(inst):
        words, _ = cmd.effective()
        if words and words[0].text.rsplit("/", 1)[-1] in ("apt-get", "apt", "aptitude"):
            return True
    return False


def already_frozen(stage: Stage, before: Instruction) -> bool:
    source = stage.instruction.source.text
    for inst in stage.instructions:
        if inst.offset >= before.offset:
            break
        if any(m in source[inst.offset:inst.end_offset] for m in MARKERS):
            return True
    return False


_DIRECTIVE = re.compile(r"^#\s*[A-Za-z]+\s*=")


def insertion_point(job: Job, inst: Instruction) -> int:
    """Start of the instruction's line, above any comment block (pragmas stay attached) but
    below the parser directives (`# syntax=`, `# escape=`) that must stay first."""
    source = job.dockerfile.source
    directives = 0
    while directives < source.line_count and _DIRECTIVE.match(source.line_text(directives + 1)):
        directives += 1
    line = inst.start_line
    while line - 1 > directives and source.line_text(line - 1).lstrip().startswith("#"):
        line -= 1
    return source.offset_of(line)


def fix_apt(finding: Finding, job: Job) -> Outcome:
    if not job.is_dockerfile(finding):
        return Outcome.skip("apt packages outside the Dockerfile are not rewritten")
    stage = job.stage_at(finding.offset)
    if stage is None:
        return Outcome.skip("not inside a build stage")
    # Before the stage's first apt command of any kind: an install that runs on the base
    # image's own lists must see the dated archive too.
    target = next((i for i in stage.instructions if _uses_apt(i)), None)
    if target is None:
        return Outcome.skip("no apt-get command found in this stage")
    if already_frozen(stage, target) or any(
            m in job.dockerfile.source.text[target.offset:target.end_offset] for m in MARKERS):
        return Outcome.skip("apt sources already point at a snapshot archive")
    image = job.root_image(stage)
    distro = distro_of(image)
    if distro is None:
        return Outcome.skip(f"cannot tell whether {image or 'the base image'} is Debian or "
                            "Ubuntu; pin its apt sources by hand")
    archive = job.snapshot.apt.get(distro)
    if archive is None:
        return Outcome.skip(f"no {distro} snapshot archive in snapshot {job.snapshot.name}")
    at = insertion_point(job, target)
    line = (f"# apt sources frozen at {job.snapshot.as_of} (carpenter fix, snapshot "
            f"{job.snapshot.name})\n{sources_command(distro, archive.url, archive.security_url)}\n")
    notes = []
    if "nvidia/cuda" in image.lower():
        notes.append("NVIDIA's CUDA apt repository has no dated snapshots; packages from it "
                     "stay unpinned (it keeps old versions, so exact pins work there)")
    return Outcome([Change(finding.path, Edit(at, at, line))], notes=notes,
                   summary=f"apt sources -> {archive.url}")
