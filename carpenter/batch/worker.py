"""What one task runs (in a pool worker or a Ray task): a unit of a submission's stages.

Returns plain dicts only and writes nothing but the submission's own work folder; the driver
stores the results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from carpenter.batch.inputs import Entry, fetch
from carpenter.pipeline.stages import CheckOptions, Submission, run_stages


def submission(entry: Entry, work: str, prior: dict[str, dict[str, Any]]) -> Submission:
    fetched = prior.get("fetch") or {}
    path = fetched.get("path") if entry.git else entry.source
    return Submission(id=entry.id, path=str(path), dockerfile=entry.dockerfile, work=work)


def run_unit(names: list[str], entry: Entry, work: str, options: CheckOptions,
             prior: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    Path(work).mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    prior = dict(prior)
    if names[0] == "fetch":
        try:
            results["fetch"] = fetch(entry, Path(work) / "source")
        except Exception as exc:  # a bad URL or a full disk: this submission only
            results["fetch"] = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        results["fetch"]["duration_s"] = 0.0
        prior["fetch"] = results["fetch"]
        names = names[1:]
        if results["fetch"]["status"] == "error":
            return results
    if names:
        results.update(run_stages(names, submission(entry, work, prior), options, prior))
    return results
