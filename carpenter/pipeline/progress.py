"""Progress on stderr from the first second: stage, elapsed time, the build's last log line.

A background thread redraws one line each second on a terminal; elsewhere (CI logs) it prints
a line when the stage changes and every PLAIN_EVERY_S seconds, so logs stay readable.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from carpenter.core.redact import safe_text

PLAIN_EVERY_S = 15.0
WIDTH = 110


class Progress:
    def __init__(self, logs: Path, stream: TextIO | None = None) -> None:
        self.logs = logs
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.stage = "starting"
        self.started = time.monotonic()
        self.stage_started = self.started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        if self.tty:
            self.stream.write("\r" + " " * WIDTH + "\r")
            self.stream.flush()

    def say(self, text: str) -> None:
        """A whole message (never clipped: it may be a path the user needs)."""
        self.stream.write(("\r" if self.tty else "") + text + "\n")
        self.stream.flush()

    def stage_started_now(self, name: str) -> None:
        self.stage = name
        self.stage_started = time.monotonic()
        self._write(self.line(), final=not self.tty)

    def line(self) -> str:
        total = time.monotonic() - self.started
        text = f"[{total:5.0f}s] {self.stage} ({time.monotonic() - self.stage_started:.0f}s)"
        last = self.last_log_line() if self.stage == "rebuild" else ""
        return f"{text} | {last}" if last else text

    def last_log_line(self) -> str:
        """The newest line of the build log being written (`*.log.part` until it closes)."""
        parts = sorted(self.logs.glob("*.part"), key=lambda p: p.stat().st_mtime)
        if not parts:
            return ""
        try:
            with open(parts[-1], "rb") as fh:
                fh.seek(max(0, fh.seek(0, 2) - 4096))
                lines = [ln for ln in fh.read().decode("utf-8", "replace").splitlines()
                         if ln.strip()]
        except OSError:
            return ""
        return safe_text(lines[-1].strip()) if lines else ""

    def _loop(self) -> None:
        last_plain = time.monotonic()
        while not self._stop.wait(1.0):
            if self.tty:
                self._write(self.line(), final=False)
            elif time.monotonic() - last_plain >= PLAIN_EVERY_S:
                last_plain = time.monotonic()
                self._write(self.line(), final=True)

    def _write(self, text: str, final: bool) -> None:
        text = text.replace("\n", " ")[:WIDTH]
        if self.tty:
            self.stream.write("\r" + text.ljust(WIDTH)[:WIDTH] + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
