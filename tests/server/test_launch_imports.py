"""The console script imports the CLI with the collector off, then freezes what it built.

Nothing the imports build is garbage; a collection during them only re-walks it (~8% of a cold
scan's instructions), and later collections need not walk it again.
"""

from __future__ import annotations

import gc
import sys

import pytest

import carpenter.cli
from carpenter import launch
from carpenter.core import patterncache


@pytest.fixture()
def recorded(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[object]]:
    seen: dict[str, list[object]] = {"preload": [], "main": []}
    monkeypatch.setattr(patterncache, "preload", lambda: seen["preload"].append(gc.isenabled()))
    monkeypatch.setattr(patterncache, "note_imports", lambda: None)
    monkeypatch.setattr(carpenter.cli, "main", lambda: seen["main"].append(
        (gc.isenabled(), gc.get_freeze_count())))
    monkeypatch.setattr(sys, "argv", ["carpenter", "rules"])
    monkeypatch.setenv("CARPENTER_NO_SERVER", "1")
    yield seen
    gc.unfreeze()
    gc.enable()


def test_imports_run_with_the_collector_off_and_the_command_with_it_on(recorded) -> None:
    gc.unfreeze()
    launch.main()
    assert recorded["preload"] == [False]
    ((enabled, frozen),) = recorded["main"]
    assert enabled and frozen > 1000  # the imported modules' objects, never walked again


def test_a_collector_switched_off_by_the_caller_stays_off(recorded) -> None:
    gc.disable()
    launch.main()
    assert recorded["main"][0][0] is False
