"""The batch driver: hands units of work to an executor, writes each stage result as it lands.

A unit is what one task runs: the cheap stages of a submission together (fetch, scan, fix:
one task, so scan's findings reach fix in memory), or one rebuild, or one smoke. The driver
caps builds and smokes in flight separately; the pool or Ray cluster places the tasks.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from carpenter.batch.inputs import Entry
from carpenter.batch.state import Record, State
from carpenter.batch.worker import run_jobs, run_unit
from carpenter.pipeline.stages import STAGES, CheckOptions
from carpenter.pipeline.verdict import decide

LIGHT = ("fetch", "scan", "fix")
CHUNK = 16  # most submissions' cheap units in one task
# Options that change results; the executor and concurrency do not.
FINGERPRINT_FIELDS = ("stages", "snapshot", "profile", "build_args", "base_map", "timeout",
                      "memory", "network", "backend", "smoke_timeout", "gpu", "server", "env")


@dataclass
class Limits:
    jobs: int = 2  # cheap units in flight (scan + fix)
    builds: int = 1
    smokes: int = 1


@dataclass
class Tally:
    total: int = 0
    finished: int = 0
    stages: dict[str, int] = field(default_factory=dict)
    running: dict[str, str] = field(default_factory=dict)  # submission -> unit kind
    started: float = field(default_factory=time.monotonic)
    resumed: int = 0  # submissions already complete when this run started


def fingerprint(options: CheckOptions) -> str:
    data = {k: v for k, v in asdict(options).items() if k in FINGERPRINT_FIELDS}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def wanted_stages(entry: Entry, options: CheckOptions) -> list[str]:
    stages = [s for s in STAGES if s in options.stages]
    return (["fetch"] if entry.git else []) + stages


def next_unit(pending: list[str]) -> list[str]:
    if pending[0] in LIGHT:
        unit = []
        for name in pending:
            if name not in LIGHT:
                break
            unit.append(name)
        return unit
    return pending[:1]


def kind_of(unit: list[str]) -> str:
    return unit[0] if unit[0] in ("rebuild", "smoke") else "light"


class Driver:
    def __init__(self, entries: list[Entry], out: Path, options: CheckOptions, executor: Any,
                 limits: Limits, progress: Any = None) -> None:
        self.entries = {e.id: e for e in entries}
        self.out = out
        self.options = options
        self.executor = executor
        self.limits = {"light": max(1, limits.jobs), "rebuild": max(1, limits.builds),
                       "smoke": max(1, limits.smokes)}
        self.progress = progress
        self.state = State(out / "state.db")
        self.state.check_options(fingerprint(options))
        self.state.register([e.to_dict() for e in entries])
        self.done = self.state.done()
        self.tally = Tally(total=len(entries))
        self.chunk = CHUNK
        self.solo: set[str] = set()  # submissions whose chunk lost its worker

    def pending(self, entry: Entry) -> list[str]:
        have = self.done.get(entry.id, {})
        if (have.get("fetch") or {}).get("status") == "error":
            return []  # nothing to build without the source
        return [s for s in wanted_stages(entry, self.options) if s not in have]

    def run(self) -> Tally:
        waiting = deque(e for e in self.entries.values() if self.pending(e))
        self.tally.resumed = self.tally.finished = len(self.entries) - len(waiting)
        inflight: dict[Any, tuple[list[tuple[Entry, list[str]]], str]] = {}
        counts = {"light": 0, "rebuild": 0, "smoke": 0}
        try:
            while waiting or inflight:
                self._fill(waiting, inflight, counts)
                for handle in self.executor.wait(list(inflight), 1.0):
                    jobs, kind = inflight.pop(handle)
                    counts[kind] -= 1
                    self._settle(handle, jobs, kind, waiting)
                if self.progress:
                    self.progress.update(self.tally)
        finally:
            self.state.close()
        return self.tally

    def _settle(self, handle: Any, jobs: list[tuple[Entry, list[str]]], kind: str,
                waiting: deque) -> None:
        landed = self._results(handle, jobs, kind)
        if landed is None:
            # A chunk whose worker died: run its submissions one by one, so the one that
            # kills its worker does not take the others' results with it.
            for entry, _ in jobs:
                self.tally.running.pop(entry.id, None)
                self.solo.add(entry.id)
                waiting.appendleft(entry)
            return
        records: list[Record] = []
        for (entry, unit), (results, texts) in zip(jobs, landed, strict=True):
            self.tally.running.pop(entry.id, None)
            records += self._land(entry, unit, results, texts)
        self.state.record_many(records)  # one commit for the whole chunk
        for entry, _ in jobs:
            if self.pending(entry):
                waiting.appendleft(entry)  # finish started submissions first
            else:
                self.tally.finished += 1

    def _fill(self, waiting: deque, inflight: dict, counts: dict[str, int]) -> None:
        skipped = []
        while waiting and any(counts[k] < self.limits[k] for k in counts):
            entry = waiting.popleft()
            unit = next_unit(self.pending(entry))
            kind = kind_of(unit)
            if counts[kind] >= self.limits[kind]:
                skipped.append(entry)
                continue
            jobs = [(entry, unit)]
            if kind == "light" and entry.id not in self.solo:
                jobs += self._more_light(waiting, self._chunk_size(len(waiting)))
            counts[kind] += 1
            for job_entry, _ in jobs:
                self.tally.running[job_entry.id] = kind
            inflight[self._submit(kind, jobs)] = (jobs, kind)
        waiting.extendleft(reversed(skipped))

    def _chunk_size(self, left: int) -> int:
        # Big enough that the hand-off and the commit are paid per chunk, small enough that
        # every light slot still gets work near the end of the batch.
        return max(1, min(self.chunk, left // (2 * self.limits["light"])))

    def _more_light(self, waiting: deque, size: int) -> list[tuple[Entry, list[str]]]:
        more: list[tuple[Entry, list[str]]] = []
        while waiting and len(more) + 1 < size:
            entry = waiting[0]
            unit = next_unit(self.pending(entry))
            if kind_of(unit) != "light" or entry.id in self.solo:
                break
            waiting.popleft()
            more.append((entry, unit))
        return more

    def _submit(self, kind: str, jobs: list[tuple[Entry, list[str]]]) -> Any:
        if kind == "light":
            batch = [(unit, entry, self._work(entry), self.done.get(entry.id, {}))
                     for entry, unit in jobs]
            return self.executor.submit(kind, run_jobs, batch, self.options)
        entry, unit = jobs[0]
        return self.executor.submit(kind, run_unit, unit, entry, self._work(entry),
                                    self.options, self.done.get(entry.id, {}))

    def _work(self, entry: Entry) -> str:
        return str((self.out / "work" / entry.id).resolve())

    def _results(self, handle: Any, jobs: list[tuple[Entry, list[str]]],
                 kind: str) -> list[tuple[dict, dict[str, str] | None]] | None:
        """(results, stored texts) per job; None when a chunk of several must be retried."""
        try:
            value = self.executor.result(handle)
        except Exception as exc:  # the worker died (OOM killer, segfault, Ray node lost)
            if len(jobs) > 1:
                return None
            unit = jobs[0][1]
            error = {"status": "error", "duration_s": 0.0,
                     "error": f"the worker running {unit[0]} died: {type(exc).__name__}"}
            return [({name: error for name in unit}, None)]
        return value if kind == "light" else [(value, None)]

    def _land(self, entry: Entry, unit: list[str], results: dict[str, dict[str, Any]],
              texts: dict[str, str] | None) -> list[Record]:
        stored = self.done.setdefault(entry.id, {})
        records = []
        for name in unit:
            if name not in results:
                continue  # a unit stops early after a failed fetch
            stored[name] = results[name]
            self.tally.stages[name] = self.tally.stages.get(name, 0) + 1
            last = not self.pending(entry)
            verdict = self._verdict(stored) if last else None
            records.append(Record(entry.id, name, results[name],
                                  (texts or {}).get(name), verdict))
        return records

    @staticmethod
    def _verdict(stored: dict[str, dict[str, Any]]) -> tuple[str, list[str]]:
        fetch = stored.get("fetch")
        if fetch and fetch.get("status") == "error":
            return "needs-human", [f"fetch failed: {fetch.get('error')}"]
        return decide({k: v for k, v in stored.items() if k != "fetch"})


class PlainProgress:
    """Per-stage counts, running submissions and ETA on stderr (one line, redrawn on a tty)."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.tty = sys.stderr.isatty()
        self.every = 0.5 if self.tty else every_s
        self.last = 0.0

    def update(self, tally: Tally, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        elapsed = now - tally.started
        fresh = tally.finished - tally.resumed
        left = tally.total - tally.finished
        eta = f"{elapsed / fresh * left:.0f}s" if fresh else "?"
        stages = " ".join(f"{k} {v}" for k, v in tally.stages.items())
        running = ", ".join(f"{s}:{k}" for s, k in list(tally.running.items())[:4])
        line = (f"[{elapsed:5.0f}s] {tally.finished}/{tally.total} done | {stages} | "
                f"running {running or '-'} | ETA {eta}")
        sys.stderr.write(("\r" + line[:140].ljust(140)) if self.tty else line + "\n")
        sys.stderr.flush()

    def finish(self, tally: Tally) -> None:
        self.update(tally, force=True)
        if self.tty:
            sys.stderr.write("\n")
