"""fix on top of the real scan: what scan reports, fix repairs; a second fix changes nothing."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from .helpers import after, apply, bundled, fix_dir, scan, submission

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = sorted(p for p in (ROOT / "fixtures" / "submissions").glob("*") if p.is_dir())


def _fixed_keys(report) -> set[tuple]:
    return {(r.rule, r.path, r.line) for r in report.applied}


def _check_fix_then_scan(root: Path, snapshot=None, strategy: str = "rewrite") -> None:
    before = {(f.rule, f.path, f.line, f.message) for f in scan(root)}
    report = fix_dir(root, snapshot, strategy)
    assert not report.errors, report.errors
    # messages name the package/image/value and do not move when fix inserts lines; the
    # same message twice means two findings, so count
    fixed = Counter((r.path, r.rule, r.message) for r in report.applied)
    was = Counter((f.path, f.rule, f.message) for f in scan(root))
    apply(report)
    remaining = scan(root)
    # no finding that fix claims to have fixed is still there
    now = Counter((f.path, f.rule, f.message) for f in remaining)
    assert all(now[k] <= was[k] - n for k, n in fixed.items()), (fixed, now)
    # idempotent: fixing the fixed submission changes nothing
    second = fix_dir(root, snapshot, strategy)
    assert [f.path for f in second.files if f.changed] == []
    assert len(remaining) <= len(before)


def test_pip_findings_are_gone_after_fix(tmp_path):
    df = submission(tmp_path / "s", "FROM python:3.10-slim\nWORKDIR /app\n"
                    "COPY requirements.txt .\n"
                    "RUN pip install --no-cache-dir torch>=2.0.1 \"peft[test]\" "
                    "-r requirements.txt\n",
                    **{"requirements.txt": "transformers>=4.30  # main\naccelerate\n"})
    assert {f.rule for f in scan(df.parent)} >= {"PIP001", "PIP002"}
    report = fix_dir(df.parent)
    new = after(report, df)
    assert "torch==2.1.0 \"peft[test]==0.5.0\" -r requirements.txt" in new
    assert after(report, df.parent / "requirements.txt") == (
        "transformers==4.34.1  # main\naccelerate==0.24.0\n")
    _check_fix_then_scan(df.parent)
    assert not [f for f in scan(df.parent) if f.rule in ("PIP001", "PIP002")]


def test_bundled_snapshot_pins_a_2023_stack(tmp_path):
    df = submission(tmp_path / "s", "FROM python:3.10-slim\n"
                    "RUN pip install transformers peft accelerate bitsandbytes trl datasets\n")
    new = after(fix_dir(df.parent, bundled()), df)
    assert ("pip install transformers==4.34.1 peft==0.5.0 accelerate==0.24.0 "
            "bitsandbytes==0.41.1 trl==0.7.2 datasets==2.14.6") in new


def test_constraints_strategy_writes_one_file_and_scan_accepts_it(tmp_path):
    df = submission(tmp_path / "s", "FROM python:3.10-slim\nRUN pip install peft torch==2.1.0\n")
    report = fix_dir(df.parent, strategy="constraints")
    assert any(f.new_file and f.path.endswith("carpenter-constraints.txt")
               for f in report.files)
    new = after(report, df)
    assert new.splitlines()[1:3] == [
        "COPY carpenter-constraints.txt /etc/carpenter-constraints.txt",
        "ENV PIP_CONSTRAINT=/etc/carpenter-constraints.txt "
        "UV_CONSTRAINT=/etc/carpenter-constraints.txt"]
    assert "RUN pip install peft torch==2.1.0\n" in new  # the install line itself is untouched
    text = next(f.after for f in report.files if f.new_file)
    # The lock is the stage's closure: the submission's own pin is in it, unchanged.
    assert "peft==0.5.0  # snapshot\n" in text and "torch==2.1.0  # snapshot\n" in text
    apply(report)
    assert not [f for f in scan(df.parent) if f.rule == "PIP001"]
    assert [f.path for f in fix_dir(df.parent, strategy="constraints").files if f.changed] == []


@pytest.mark.parametrize("fixture", FIXTURES, ids=[p.name for p in FIXTURES])
def test_every_fixture_fixes_cleanly_and_idempotently(fixture, tmp_path):
    import shutil

    copy = tmp_path / fixture.name
    shutil.copytree(fixture, copy, symlinks=True)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        _check_fix_then_scan(Path(fixture.name), bundled())
    finally:
        os.chdir(cwd)


def test_workers_give_the_same_result_and_share_files_once(tmp_path):
    from carpenter.fix.engine import FixOptions, fix_paths
    from carpenter.scan.engine import ScanOptions

    from .helpers import make_snapshot

    for n in range(10):
        submission(tmp_path / f"s{n}", f"FROM python:3.10-slim\nRUN pip install peft einops{n}\n")
    shared = tmp_path / "shared"
    submission(shared, "FROM python:3.10-slim\nCOPY requirements.txt .\n"
               "RUN pip install -r requirements.txt\n", **{"requirements.txt": "peft\n"})
    (shared / "Dockerfile.gpu").write_text((shared / "Dockerfile").read_text())

    def run(jobs: int) -> dict[str, str]:
        options = FixOptions(make_snapshot(), "rewrite", ScanOptions(), jobs=jobs)
        report = fix_paths([str(tmp_path)], options)
        assert not report.errors
        return {f.path: f.after for f in report.files if f.changed}

    serial, parallel = run(1), run(2)
    assert serial == parallel
    assert parallel[str(shared / "requirements.txt")] == "peft==0.5.0\n"
