"""Shared helpers for fix tests: a test snapshot, submissions on disk, findings by needle."""

from __future__ import annotations

import os
from pathlib import Path

from carpenter.fix.engine import FixOptions, FixReport, fix_findings, fix_paths
from carpenter.scan.engine import ScanOptions, scan_paths
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import (
    AptPackage,
    CondaPin,
    CudaBuild,
    Download,
    GitClone,
    ImageDigest,
    Payload,
    PipPin,
    SecretMove,
    VcsPin,
)
from carpenter.snapshot.model import Snapshot, load_snapshot, parse_snapshot

SECRET = "hf_" + "QwErTyUiOpAsDfGhJkLzXcVbNmQwErTyUi"
SHA = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32

TEST_SNAPSHOT = f"""
schema = 1
name = "test-snap"
as_of = "2023-10-25"
[target]
python = "3.10"
platform = "x86_64-unknown-linux-gnu"
torch = "2.1.0"
cuda = "12.1"
cxx11_abi = false
[pypi]
torch = "2.1.0"
transformers = "4.34.1"
peft = "0.5.0"
datasets = "2.14.6"
accelerate = "0.24.0"
flash-attn = "2.3.3"
deepspeed = "0.11.1"
pydantic = "2.4.2"
sentencepiece = "0.1.99"
xformers = "0.0.22.post7"
[base_images."nvidia/cuda:12.1.0-devel-ubuntu22.04"]
digest = "{DIGEST}"
[base_images."python:3.10-slim"]
digest = "{DIGEST}"
[git."https://github.com/huggingface/peft"]
commit = "{SHA}"
[apt.debian]
url = "https://snapshot.debian.org/archive/debian/20231025T000000Z"
security_url = "https://snapshot.debian.org/archive/debian-security/20231025T000000Z"
[apt.ubuntu]
url = "https://snapshot.ubuntu.com/ubuntu/20231025T000000Z"
[conda]
python = "3.10.13"
pytorch = "2.1.0"
[downloads]
"org/model" = "{SHA}"
[[cuda_wheels]]
package = "flash-attn"
version = "2.3.3"
torch = "2.1"
cuda = "12.1"
python = "3.10"
cxx11_abi = false
url = "https://github.com/Dao-AILab/flash-attention/releases/download/v2.3.3/flash_attn-2.3.3+cu121torch2.1cxx11abiFALSE-cp310-cp310-linux_x86_64.whl"
[[overrides]]
id = "ds"
action = "pin"
when = ["deepspeed"]
pins = {{ pydantic = "1.10.13" }}
reason = "deepspeed 0.11 needs pydantic 1"
refs = ["x/y#1"]
"""


def make_snapshot() -> Snapshot:
    return parse_snapshot(TEST_SNAPSHOT.encode())


def bundled() -> Snapshot:
    return load_snapshot("neurips-2023")


def submission(root: Path, dockerfile: str, **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        path = root / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "Dockerfile"


def finding(path: Path, category: str, needle: str, occurrence: int = 0, **data) -> Finding:
    """A finding over the n-th occurrence of `needle` in the file (fakes a rule)."""
    text = path.read_text()
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(needle, start + 1)
    line = text.count("\n", 0, start) + 1
    return Finding("TEST", "test-rule", category, "warning", str(path), line, line, 1, 1,
                   "test finding", fixable=True, offset=start, end_offset=start + len(needle),
                   data=data, payload=payload_for(category, needle, data))


def payload_for(category: str, needle: str, data: dict) -> Payload | None:
    """The typed payload the real rule of this category attaches (fix dispatches on it)."""
    pip = category == "unpinned-pip" or (category == "unpinned-conda"
                                         and data.get("manager") == "pip")
    if pip or (category == "shell-bug" and data.get("requirement")):
        return PipPin(package=data.get("package"), requirement=data.get("requirement", needle),
                      manager=data.get("manager"))
    if category == "secret":
        return SecretMove(secret_kind=data.get("secret_kind", "test"),
                          variable=data.get("variable"))
    return _other_payload(category, needle, data)


def _other_payload(category: str, needle: str, data: dict) -> Payload | None:
    if category == "unpinned-conda":
        return CondaPin(package=data.get("package", needle), tool=data.get("tool"))
    if category == "unpinned-git":
        return VcsPin(url=needle) if "git+" in needle else GitClone(url=needle)
    if category == "unpinned-apt":
        return AptPackage(package=data.get("package", needle), tool=data.get("tool", "apt-get"))
    if category == "floating-base-image":
        return ImageDigest(image=data.get("image", ""))
    if category == "cuda-source-build":
        return CudaBuild(package=data.get("package", ""), torch=data.get("torch"),
                         cuda=data.get("cuda"), python=data.get("python"))
    if category == "build-time-download":
        return Download(repo=data.get("repo"), revision=data.get("revision"))
    return None


def fix_fake(path: Path, findings: list[Finding], snapshot: Snapshot | None = None,
             strategy: str = "rewrite", lock: bool = False) -> FixReport:
    """One fixer on hand-made findings; the stage lock (tests/fix/test_closure.py) is off
    unless asked for, so each fixer's own edit is what the test sees."""
    return fix_findings(str(path), findings, FixOptions(snapshot or make_snapshot(), strategy,
                                                        lock=lock))


def fix_dir(path: Path, snapshot: Snapshot | None = None, strategy: str = "rewrite",
            context: str | None = None) -> FixReport:
    options = FixOptions(snapshot or make_snapshot(), strategy, ScanOptions(context=context))
    return fix_paths([str(path)], options)


def after(report: FixReport, path: Path) -> str:
    for change in report.files:
        if os.path.realpath(change.disk_path) == os.path.realpath(path):
            return change.after
    return path.read_text()


def apply(report: FixReport) -> None:
    for change in report.files:
        if change.changed:
            Path(change.disk_path).write_text(change.after)


def scan(path: Path, context: str | None = None) -> list[Finding]:
    return scan_paths([str(path)], ScanOptions(context=context)).findings
