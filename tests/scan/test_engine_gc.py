"""A batch scan tunes the garbage collector for itself and gives it back as it found it."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from carpenter.scan import engine
from carpenter.scan.engine import ScanOptions, scan_paths

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "submissions"


def test_batch_scan_restores_the_collector_and_matches_an_untuned_scan(monkeypatch):
    monkeypatch.setattr(engine, "GC_TUNE_FILES", 10**9)
    plain = scan_paths([str(FIXTURES)], ScanOptions())
    monkeypatch.setattr(engine, "GC_TUNE_FILES", 1)
    monkeypatch.setattr(engine, "GC_EVERY_FILES", 7)  # collections happen inside the batch
    assert gc.isenabled()
    tuned = scan_paths([str(FIXTURES)], ScanOptions())
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert not engine._batch["on"]
    assert [f.to_json() for f in tuned.findings] == [f.to_json() for f in plain.findings]
    assert tuned.errors == plain.errors


def test_a_failing_batch_still_restores_the_collector(monkeypatch):
    monkeypatch.setattr(engine, "GC_TUNE_FILES", 1)

    def boom(path, options):
        raise RuntimeError("stop")

    monkeypatch.setattr(engine, "scan_file", boom)
    with pytest.raises(RuntimeError):
        scan_paths([str(FIXTURES)], ScanOptions())
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_callers_own_freeze_is_left_alone(monkeypatch):
    monkeypatch.setattr(engine, "GC_TUNE_FILES", 1)
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        scan_paths([str(FIXTURES)], ScanOptions())
        assert gc.get_freeze_count() == frozen
        assert gc.isenabled()
    finally:
        gc.unfreeze()
