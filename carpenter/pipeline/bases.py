"""What a substituted base (`--base-map REF=IMAGE`) changes about what a build proves.

The expected side comes from the reference the submission names (official image tags encode
torch, CUDA, Python and the OS); the stand-in side from a short probe container in the image.
Each difference becomes a note, and a build that failed for want of a toolkit the stand-in
lacks says so, instead of looking like the submission's fault.
"""

from __future__ import annotations

import re
from typing import Any

from carpenter.core.redact import safe_text

PROBE = (
    '. /etc/os-release 2>/dev/null; echo "os=$ID-$VERSION_ID"; '
    'for p in python3 python; do command -v $p >/dev/null && '
    '$p -c "import sys; print(\'python=%d.%d\' % sys.version_info[:2])" && break; done; '
    'command -v nvcc >/dev/null && echo nvcc=yes; echo "cuda_home=$CUDA_HOME"; '
    'echo "cuda=$CUDA_VERSION"; '
    'python3 -c "import torch; print(\'torch=\' + torch.__version__)" 2>/dev/null; true'
)
_OS = {"bookworm": "debian-12", "bullseye": "debian-11", "buster": "debian-10",
       "jammy": "ubuntu-22.04", "focal": "ubuntu-20.04", "noble": "ubuntu-24.04"}


def expected_facts(ref: str) -> dict[str, str]:
    """What an image reference promises, read from its name and tag."""
    name, _, tag = ref.partition(":")
    facts: dict[str, str] = {}
    if match := re.search(r"cuda(\d+\.\d+)", tag) or (
            "nvidia/cuda" in name and re.match(r"(\d+\.\d+)", tag)):
        facts["cuda"] = match.group(1)
    if "devel" in tag:
        facts["nvcc"] = "yes"
    if name.endswith("pytorch/pytorch") and (match := re.match(r"(\d+\.\d+(?:\.\d+)?)", tag)):
        facts["torch"] = match.group(1)
    if name.split("/")[-1] == "python" and (match := re.match(r"(\d+\.\d+)", tag)):
        facts["python"] = match.group(1)
    elif match := re.search(r"py(?:thon)?3\.?(\d+)", tag):
        facts["python"] = f"3.{match.group(1)}"
    if match := re.search(r"ubuntu(\d+\.\d+)", tag):
        facts["os"] = f"ubuntu-{match.group(1)}"
    for codename, os_name in _OS.items():
        if codename in tag:
            facts["os"] = os_name
    return facts


def probe_image(image: str) -> dict[str, str]:
    """OS, Python, nvcc, CUDA_HOME, CUDA version and torch of an image, from one container."""
    from carpenter import containers

    client = containers.connect(objects=True)
    container = client.containers.create(
        image, ["-c", PROBE], entrypoint=["/bin/sh"], network_mode="none",
        labels=containers.labels("base-probe"))
    try:
        container.start()
        container.wait(timeout=60)
        output = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
    finally:
        containers.remove_quietly(container)
    facts = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep and value.strip():
            facts[key.strip()] = value.strip()
    return facts


def compare_facts(ref: str, image: str, expected: dict[str, str],
                  actual: dict[str, str]) -> list[str]:
    notes = []
    for key, label in (("os", "OS"), ("python", "Python"), ("cuda", "CUDA toolkit"),
                       ("torch", "preinstalled torch")):
        want, have = expected.get(key), actual.get(key)
        if want and not (have or "").startswith(want):
            notes.append(f"{label}: {ref} has {want}, the stand-in {image} has "
                         f"{have or 'none'}")
    if expected.get("nvcc") and "nvcc" not in actual:
        notes.append(f"nvcc: {ref} is a devel image with nvcc, the stand-in {image} has no "
                     "nvcc" + ("" if actual.get("cuda_home") else " and no CUDA_HOME"))
    return notes


def base_notes(build: dict[str, Any], options: Any) -> list[str]:
    """One note per difference between each substituted base and its stand-in."""
    notes = []
    for sub in build.get("base_substitutions") or []:
        ref, image = sub.get("ref", ""), sub.get("image", "")
        try:
            actual = probe_image(image)
        except Exception as exc:  # the note is advisory: a failed probe must not fail the build
            notes.append(f"could not inspect the stand-in {image}: {type(exc).__name__}")
            continue
        found = compare_facts(ref, image, expected_facts(ref), actual)
        notes += found or [f"stand-in {image} for {ref}: no difference found in OS, Python, "
                           "CUDA or torch"]
    if (build.get("status") != "built" and build.get("failure_class") == "cuda-compile"
            and any("nvcc" in n or "CUDA toolkit" in n for n in notes)):
        notes.append("the cuda-compile failure is likely caused by the stand-in base, which "
                      "lacks the CUDA toolkit the submission's base provides: not the "
                      "submission's fault")
    return [safe_text(n) for n in notes]
