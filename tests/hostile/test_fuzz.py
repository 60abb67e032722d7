"""A short round of the in-process fuzzer (bench/fuzz.py runs the long one)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import fuzz


def test_two_hundred_hostile_inputs_through_scan_and_fix() -> None:
    harness = fuzz.run(200, seed=13)
    assert harness.count >= 200
    assert harness.findings > 0  # the inputs reach the rules, not only the parser's errors


def test_harness_catches_a_leak() -> None:
    """The oracle itself works: an unmasked token in an output fails the check."""
    import pytest

    from carpenter.core import redact

    redact.forget_all()  # as in a fresh run: nothing found yet
    with pytest.raises(AssertionError, match="leaks"):
        fuzz._no_secret(f"message with {fuzz.PASSWORD} in it", "probe")  # shapeless


def test_found_by_the_fuzzer_fix_findings_refuses_an_empty_result(tmp_path) -> None:
    """fix_findings (the API for callers that already scanned) skipped the parse check."""
    harness = fuzz.Harness(tmp_path)
    harness.check("# syntax=docker/dockerfile:1\nENV A=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\n")
    assert harness.refused == 1 and harness.fixed == 0
