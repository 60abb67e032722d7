"""What one task runs (in a pool worker or a Ray task): a unit of a submission's stages.

Returns plain dicts only and writes nothing but the submission's own work folder; the driver
stores the results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from carpenter.batch.inputs import Entry, fetch
from carpenter.batch.state import stored_text
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


Job = tuple[list[str], Entry, str, dict[str, dict[str, Any]]]  # unit, entry, work, prior


def run_jobs(jobs: list[Job], options: CheckOptions) -> list[tuple[dict, dict[str, str]]]:
    """Several submissions' cheap units in one task (one hand-off instead of one each), each
    with its results' stored text, redacted here in parallel rather than in the driver."""
    out = []
    for names, entry, work, prior in jobs:
        results = run_unit(names, entry, work, options, prior)
        out.append((results, {name: stored_text(r) for name, r in results.items()}))
    return out
