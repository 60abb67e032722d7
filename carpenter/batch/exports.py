"""results.json, results.csv and report.html, made from the state database alone.

Made from the database (not from memory) so a resumed run writes the same files as an
uninterrupted one. Rows follow the input's order.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from carpenter.batch.state import State
from carpenter.core.files import write_atomic
from carpenter.core.redact import stream_text

CSV_COLUMNS = ("id", "track", "verdict", "findings", "failing", "categories", "fix",
               "build", "failure_class", "build_s", "smoke", "reasons")


def rows(state: State) -> list[dict[str, Any]]:
    done, verdicts = state.done(), state.verdicts()
    out = []
    for entry in state.submissions():
        stages = done.get(entry["id"], {})
        verdict, reasons = verdicts.get(entry["id"], ("pending", []))
        out.append({"id": entry["id"], "track": entry.get("track", ""),
                    "source": entry["source"], "commit": entry.get("commit", ""),
                    "verdict": verdict, "reasons": reasons, "stages": stages,
                    "summary": summary(stages)})
    return out


def summary(stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The table's columns for one submission."""
    scan = stages.get("scan") or {}
    build = stages.get("rebuild") or {}
    original = build.get("original") or {}
    failed = original if original.get("status") == "failed" else (build.get("repaired") or {})
    smoke = stages.get("smoke") or {}
    smoke_state = smoke.get("status", "") if smoke else ""
    return {"findings": len(scan.get("findings") or []), "failing": scan.get("failing", 0),
            "categories": scan.get("categories") or {},
            "fix": (stages.get("fix") or {}).get("status", ""),
            "build": build.get("status", ""),
            "failure_class": failed.get("failure_class") or "",
            "build_s": round(float(original.get("duration_s") or 0.0), 1) if original else None,
            "smoke": smoke_state}


def write_exports(out: Path) -> dict[str, Path]:
    from carpenter.batch.html import render_html

    state = State(out / "state.db")
    try:
        data = rows(state)
    finally:
        state.close()
    paths = {"json": out / "results.json", "csv": out / "results.csv",
             "html": out / "report.html"}
    # Every stage result passed safe_text when State.record stored it; a second pass over
    # megabytes of JSON cost ~10 s per 1,000 submissions for nothing. The CSV's reasons are
    # small and built here, so they go through it again.
    write_atomic(paths["json"], json.dumps(data, indent=2, sort_keys=True) + "\n")
    write_atomic(paths["csv"], stream_text(_csv(data)))
    write_atomic(paths["html"], render_html(data))
    return paths


def _csv(data: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in data:
        s = row["summary"]
        cats = ";".join(f"{k}={v}" for k, v in sorted(s["categories"].items()))
        writer.writerow([row["id"], row["track"], row["verdict"], s["findings"], s["failing"],
                         cats, s["fix"], s["build"], s["failure_class"],
                         "" if s["build_s"] is None else s["build_s"], s["smoke"],
                         " | ".join(row["reasons"])])
    return buffer.getvalue()
