"""The typed scan -> fix contract: every fixable finding carries a payload its fixer consumes.

Iterates the rule table: each rule whose findings can be fixable is scanned over its own case
folder (tests/scan/rules/cases/<ID>) and the fixture submissions; each fixable finding must
carry a payload (mirrored in `data`) and reach a fixer, not the "no automatic fix" fallback.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from carpenter.fix.engine import FixOptions, fix_findings
from carpenter.scan.config import ScanConfig
from carpenter.scan.engine import ScanOptions, scan_paths
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import CondaPin, CudaBuild, Download, GitClone, ImageDigest
from carpenter.scan.registry import all_rules
from tests.fix.helpers import bundled, make_snapshot, submission

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "scan" / "rules" / "cases"
FIXTURES = ROOT / "fixtures" / "submissions"
FIXABLE = sorted(rule_id for rule_id, rule in all_rules().items() if rule.fixable)
NO_FIXER = "no automatic fix for"


def _fixable_findings(rule_id: str) -> list[Finding]:
    config = ScanConfig(select=(rule_id,))
    found = []
    for folder in (CASES / rule_id, FIXTURES):
        report = scan_paths([str(folder)], ScanOptions(config=config))
        found += [f for f in report.findings if f.fixable]
    return found


def test_every_fixable_rule_is_in_the_table_and_has_a_case() -> None:
    assert {"APT001", "CONDA001", "CONDA002", "CUDA001", "DL001", "GIT001", "GIT002",
            "IMG002", "PIP001", "SEC001", "SH001"} <= set(FIXABLE)
    for rule_id in FIXABLE:
        assert (CASES / rule_id / "Dockerfile").is_file(), rule_id


@pytest.mark.parametrize("rule_id", FIXABLE)
def test_fixable_findings_carry_a_payload_a_fixer_consumes(rule_id: str) -> None:
    findings = _fixable_findings(rule_id)
    assert findings, f"{rule_id}: no fixable finding in its case or the fixtures"
    for finding in findings:
        assert finding.payload is not None, finding
        assert finding.data == finding.payload.to_dict(), finding
    by_file: dict[str, list[Finding]] = {}
    for finding in findings:
        by_file.setdefault(finding.path, []).append(finding)
    for path, group in by_file.items():
        if not Path(path).name.startswith("Dockerfile"):
            continue  # a requirements/environment file: fixed through its Dockerfile
        report = fix_findings(path, group, FixOptions(bundled()))
        reasons = [r.reason for r in report.records]
        assert not any(reason.startswith(NO_FIXER) for reason in reasons), (rule_id, reasons)


CASES_WITHOUT_PAYLOAD = {
    "conda": ("FROM continuumio/miniconda3:23.5.2-0\nRUN conda install -y peft\n",
              "peft", "unpinned-conda", "peft=0.5.0"),
    "image": ("FROM python:3.10-slim\n", "python:3.10-slim", "floating-base-image", "@sha256:"),
    "git": ("FROM python:3.10-slim\nRUN git clone https://github.com/huggingface/peft\n",
            "https://github.com/huggingface/peft", "unpinned-git", "checkout"),
    "vcs": ("FROM python:3.10-slim\nRUN pip install git+https://github.com/huggingface/peft@dev\n",
            "git+https://github.com/huggingface/peft@dev", "unpinned-git", "@0123456789ab"),
    "apt": ("FROM python:3.10-slim\nRUN apt-get update && apt-get install -y curl\n",
            "curl", "unpinned-apt", "snapshot.debian.org"),
    "download": ("FROM python:3.10-slim\nRUN huggingface-cli download org/model\n",
                 "huggingface-cli download org/model", "build-time-download", "--revision"),
}


@pytest.mark.parametrize("kind", sorted(CASES_WITHOUT_PAYLOAD))
def test_a_finding_without_its_payload_is_not_fixed(tmp_path: Path, kind: str) -> None:
    """Dispatch is on the payload type, not the category: strip the payload, nothing changes."""
    from tests.fix.helpers import finding as fake

    dockerfile, needle, category, marker = CASES_WITHOUT_PAYLOAD[kind]
    path = submission(tmp_path, dockerfile)
    typed = fake(path, category, needle)
    assert typed.payload is not None
    # lock=False: the pip closure lock is written for every stage that runs pip, whatever
    # the findings; this test is about the dispatch alone.
    fixed = fix_findings(str(path), [typed], FixOptions(make_snapshot(), lock=False))
    assert marker in fixed.files[0].after, fixed.records
    bare = dataclasses.replace(typed, payload=None)
    report = fix_findings(str(path), [bare], FixOptions(make_snapshot(), lock=False))
    assert not any(f.changed for f in report.files)
    assert report.records[0].reason == f"{NO_FIXER} {category} findings"


def test_fixers_read_the_payload(tmp_path: Path) -> None:
    """IMG002's fixer pins the image its payload names; CUDA001's picks the wheel for the
    payload's torch/CUDA/Python, not the ones it would read off the image."""
    from tests.fix.helpers import finding as fake

    path = submission(tmp_path, "FROM python:3.10-slim\n")
    image = fake(path, "floating-base-image", "python:3.10-slim")
    assert isinstance(image.payload, ImageDigest)
    other = dataclasses.replace(image, payload=ImageDigest(image="python:3.10-slim@sha256:x"))
    report = fix_findings(str(path), [other], FixOptions(make_snapshot()))
    assert report.records[0].reason == "already pinned by digest"
    assert isinstance(fake(path, "unpinned-conda", "python").payload, CondaPin)
    assert isinstance(fake(path, "cuda-source-build", "python").payload, CudaBuild)
    assert isinstance(fake(path, "build-time-download", "python").payload, Download)
    assert isinstance(fake(path, "unpinned-git", "python").payload, GitClone)
