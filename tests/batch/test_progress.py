"""Batch progress: a rich live panel on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

from rich.console import Console

from carpenter.batch.driver import PlainProgress, Tally
from carpenter.batch.progress import RichProgress, eta_seconds, progress_for_terminal


def tally_at(now: float) -> Tally:
    tally = Tally(total=10, finished=5, resumed=1, started=now - 8.0)
    tally.stages = {"scan": 4, "fix": 4, "rebuild": 2}
    tally.running = {f"team-{i}": "light" for i in range(8)} | {"team-9": "rebuild"}
    return tally


def test_eta_counts_only_this_runs_pace():
    # 4 fresh submissions in 8 s; 5 left: 10 s. The one done before the restart is not pace.
    assert eta_seconds(tally_at(100.0), 100.0) == 10.0
    assert eta_seconds(Tally(total=3, finished=2, resumed=2), 5.0) is None


def test_rich_panel_shows_stage_counts_running_and_eta():
    out = io.StringIO()
    progress = RichProgress(Console(file=out, force_terminal=True, width=120,
                                    color_system=None), every_s=0)
    tally = tally_at(__import__("time").monotonic())
    progress.update(tally)
    progress.finish(tally)
    text = out.getvalue()
    assert "5/10" in text and "ETA 0:1" in text  # 0:10, give or take the clock
    for stage, count in (("scan", 4), ("fix", 4), ("rebuild", 2)):
        assert stage in text and str(count) in text
    assert "team-0 (light)" in text and "and 3 more" in text


def test_plain_lines_when_not_a_terminal():
    # pytest captures stderr: not a terminal, so no live panel escapes into logs.
    assert isinstance(progress_for_terminal(), PlainProgress)
