"""Batch progress on a terminal: a live rich panel (overall bar with ETA, per-stage counts,
the submissions running now). Not on a terminal, the driver's PlainProgress prints lines."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

SHOWN_RUNNING = 6  # more would push the counts off a small terminal


def eta_seconds(tally: Any, now: float) -> float | None:
    """Time left at this run's pace; submissions that were already done do not count."""
    fresh = tally.finished - tally.resumed
    if fresh <= 0:
        return None
    return (now - tally.started) / fresh * (tally.total - tally.finished)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def render(tally: Any, now: float) -> Group:
    elapsed = now - tally.started
    head = Table.grid(padding=(0, 1))
    head.add_row(Text("carpenter batch", style="bold"),
                 ProgressBar(total=max(1, tally.total), completed=tally.finished, width=40),
                 Text(f"{tally.finished}/{tally.total}"),
                 Text(f"elapsed {_clock(elapsed)}  ETA {_clock(eta_seconds(tally, now))}"))
    stages = Table(box=None, show_header=True, header_style="dim", pad_edge=False)
    for name in tally.stages or {"-": 0}:
        stages.add_column(name, justify="right")
    stages.add_row(*(str(v) for v in (tally.stages or {"-": 0}).values()))
    running = list(tally.running.items())
    shown = ", ".join(f"{sub} ({kind})" for sub, kind in running[:SHOWN_RUNNING])
    more = f" and {len(running) - SHOWN_RUNNING} more" if len(running) > SHOWN_RUNNING else ""
    return Group(head, Text("stage results this run:", style="dim"), stages,
                 Text(f"running: {shown or '-'}{more}"))


class RichProgress:
    """Same interface as PlainProgress: update(tally) often, finish(tally) once."""

    def __init__(self, console: Console | None = None, every_s: float = 0.25) -> None:
        self.console = console or Console(stderr=True)
        self.every = every_s
        self.last = 0.0
        self.live: Live | None = None

    def update(self, tally: Any, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        if self.live is None:
            self.live = Live(render(tally, now), console=self.console, auto_refresh=False,
                             transient=False)
            self.live.start()
        self.live.update(render(tally, now), refresh=True)

    def finish(self, tally: Any) -> None:
        self.update(tally, force=True)
        if self.live is not None:
            self.live.stop()
            self.live = None


def progress_for_terminal() -> Any:
    """RichProgress on a terminal, plain lines otherwise (logs, CI, pipes)."""
    from carpenter.batch.driver import PlainProgress

    console = Console(stderr=True)
    return RichProgress(console) if console.is_terminal else PlainProgress()
