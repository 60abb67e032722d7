"""The batch's state: SQLite in WAL mode, one row per submission and stage.

Only the driver writes. Each stage result goes in with one transaction, so a run killed at
any moment (`kill -9` included) leaves every stage either committed or absent; a restart runs
exactly the stages that have no row. Everything stored passes through `safe_text`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carpenter.core.errors import ConfigError
from carpenter.core.redact import safe_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    id TEXT PRIMARY KEY, position INTEGER NOT NULL, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stages (
    submission TEXT NOT NULL REFERENCES submissions(id), stage TEXT NOT NULL,
    status TEXT NOT NULL, result TEXT NOT NULL, duration_s REAL NOT NULL,
    PRIMARY KEY (submission, stage));
CREATE TABLE IF NOT EXISTS verdicts (
    submission TEXT PRIMARY KEY REFERENCES submissions(id), verdict TEXT NOT NULL,
    reasons TEXT NOT NULL);
"""
# Fields that differ between two runs of the same work (clocks, image ids, temp paths):
# left out when two databases are compared.
VOLATILE = frozenset({"duration_s", "timings", "image_id", "peak_rss_mb", "losses"})


def stored_text(result: dict[str, Any]) -> str:
    """A stage result as the database holds it: JSON, redacted. Workers call this (in
    parallel) so the driver, the one serial writer, does not redact the same text again."""
    return safe_text(json.dumps(result, sort_keys=True, default=str))


@dataclass
class Record:
    submission: str
    stage: str
    result: dict[str, Any]
    text: str | None = None  # stored_text(result) when the worker made it already
    verdict: tuple[str, list[str]] | None = None


class State:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)  # explicit transactions only
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL: a commit survives a process crash (kill -9); only an OS crash can
        # lose the last commits, and those stages are simply run again.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def check_options(self, fingerprint: str) -> None:
        """A resumed batch must run with the options it started with."""
        row = self.db.execute("SELECT value FROM meta WHERE key='options'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('options', ?)", (fingerprint,))
        elif row[0] != fingerprint:
            raise ConfigError("this --out folder holds a batch run with other options; "
                              "use the same options to resume, or another --out",
                              path=str(self.path))

    def register(self, entries: list[dict[str, Any]]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            for position, entry in enumerate(entries):
                self.db.execute("INSERT OR IGNORE INTO submissions VALUES (?, ?, ?)",
                                (entry["id"], position,
                                 safe_text(json.dumps(entry, sort_keys=True))))

    def done(self) -> dict[str, dict[str, dict[str, Any]]]:
        """submission id -> stage -> stored result."""
        found: dict[str, dict[str, dict[str, Any]]] = {}
        for sub, stage, result in self.db.execute(
                "SELECT submission, stage, result FROM stages"):
            found.setdefault(sub, {})[stage] = json.loads(result)
        return found

    def record(self, submission: str, stage: str, result: dict[str, Any],
               verdict: tuple[str, list[str]] | None = None) -> None:
        """One stage result (and the verdict when it was the last stage): one transaction."""
        self.record_many([Record(submission, stage, result, None, verdict)])

    def record_many(self, records: list[Record]) -> None:
        """Several stage results in one transaction: each is still all-or-nothing, and one
        commit per batch of submissions instead of one per stage keeps the driver fast."""
        with self.db:
            self.db.execute("BEGIN")
            for rec in records:
                text = rec.text if rec.text is not None else stored_text(rec.result)
                self.db.execute("INSERT OR REPLACE INTO stages VALUES (?, ?, ?, ?, ?)",
                                (rec.submission, rec.stage, str(rec.result.get("status", "")),
                                 text, float(rec.result.get("duration_s", 0.0))))
                if rec.verdict is not None:
                    self.db.execute("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?)",
                                    (rec.submission, rec.verdict[0],
                                     safe_text(json.dumps(rec.verdict[1]))))

    def submissions(self) -> list[dict[str, Any]]:
        return [json.loads(entry) for (entry,) in self.db.execute(
            "SELECT entry FROM submissions ORDER BY position")]

    def verdicts(self) -> dict[str, tuple[str, list[str]]]:
        return {sub: (verdict, json.loads(reasons)) for sub, verdict, reasons in self.db.execute(
            "SELECT submission, verdict, reasons FROM verdicts")}


def canonical(path: Path) -> dict[str, Any]:
    """The database's content without run-to-run noise, for comparing two runs."""
    state = State(path)
    try:
        data = {"submissions": state.submissions(),
                "stages": {sub: {stage: strip_volatile(result) for stage, result in stages.items()}
                           for sub, stages in sorted(state.done().items())},
                "verdicts": state.verdicts()}
    finally:
        state.close()
    # Two runs into two --out folders differ by that folder's name only.
    text = json.dumps(data, sort_keys=True).replace(str(path.parent.resolve()), "$OUT")
    return json.loads(text)


def strip_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_volatile(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [strip_volatile(v) for v in value]
    return value
