"""One verdict from the stage results: reproducible, repaired or needs-human, with reasons."""

from __future__ import annotations

from typing import Any

REPRODUCIBLE = "reproducible"
REPAIRED = "repaired"
NEEDS_HUMAN = "needs-human"
VERDICTS = (REPRODUCIBLE, REPAIRED, NEEDS_HUMAN)
# Exit codes: 0 as it is; 10 the patch is the deliverable; 11 a person must look. Distinct
# from 1 (findings) and 2 (could not run) so a script can tell them apart.
EXIT_CODES = {REPRODUCIBLE: 0, REPAIRED: 10, NEEDS_HUMAN: 11}


def decide(stages: dict[str, dict[str, Any]]) -> tuple[str, list[str]]:
    """The verdict over whichever stages ran (a subset gives a weaker, stated verdict)."""
    errors = [f"{name} could not run: {result.get('error')}"
              for name, result in stages.items() if result.get("status") == "error"
              and name != "fix"]
    if errors:
        return NEEDS_HUMAN, errors
    if "rebuild" in stages:
        return _built_verdict(stages)
    return _static_verdict(stages)


def _static_verdict(stages: dict[str, dict[str, Any]]) -> tuple[str, list[str]]:
    scan, fix = stages.get("scan") or {}, stages.get("fix")
    failing = scan.get("failing", 0)
    tail = "static check only: not built"
    if failing == 0:
        return REPRODUCIBLE, [f"no finding at the failing severity; {tail}"]
    if fix is None:
        return NEEDS_HUMAN, [f"{failing} failing finding(s) and fix was not run; {tail}"]
    unfixed = [f for f in scan.get("findings", []) if f.get("failing") and not f.get("fixable")]
    if fix.get("status") == "fixed" and not unfixed:
        return REPAIRED, [f"fix applied {fix.get('applied', 0)} edit(s) covering every failing "
                          f"finding; {tail}"]
    reasons = [f"{f['path']}:{f['line']}: {f['rule']} ({f['category']}) cannot be fixed "
               "automatically" for f in unfixed[:10]]
    reasons += fix.get("skipped_reasons", [])[:10] + fix.get("errors", [])
    return NEEDS_HUMAN, reasons or [f"fix could not repair every finding; {tail}"]


def _built_verdict(stages: dict[str, dict[str, Any]]) -> tuple[str, list[str]]:
    build, smoke = stages["rebuild"], stages.get("smoke")
    original, repaired = build.get("original") or {}, build.get("repaired")
    original_ok, why_not = _image_ok("original", original, smoke)
    drift = build.get("drift")
    if original_ok and not drift:
        reasons = ["the original builds" + _smoke_said(smoke, "original")]
        if build.get("floating"):
            reasons.append("unpinned (" + ", ".join(build["floating"]) + ") but today's build "
                           "matches the pinned copy" if repaired else "unpinned ("
                           + ", ".join(build["floating"]) + "): may drift later")
        return REPRODUCIBLE, reasons
    if original_ok and drift:
        why_not = [_drift_text(drift)]
    repaired_ok, repaired_why = (_image_ok("repaired", repaired, smoke) if repaired
                                 else (False, [_no_repair(stages.get("fix"))]))
    if repaired_ok:
        return REPAIRED, [*why_not, "the repaired copy builds" + _smoke_said(smoke, "repaired")]
    blame = [n for n in build.get("base_notes", []) if "not the submission's fault" in n]
    return NEEDS_HUMAN, why_not + repaired_why + blame


def _image_ok(which: str, build: dict[str, Any], smoke: dict[str, Any] | None
              ) -> tuple[bool, list[str]]:
    if build.get("status") != "built":
        return False, [_failure_text(which, build)]
    if smoke is None or smoke.get("status") == "skipped":
        return True, []
    result = smoke.get(which)
    if result is None:
        return True, []
    if result.get("passed"):
        return True, []
    failed = [c for c in result.get("checks", []) if c.get("status") == "fail"]
    detail = "; ".join(f"{c['name']}: {c['detail']}" for c in failed[:3]) or result.get(
        "error") or result.get("status", "failed")
    return False, [f"the {which} image builds but fails the smoke: {detail}"]


def _failure_text(which: str, build: dict[str, Any]) -> str:
    text = f"the {which} build failed ({build.get('failure_class') or 'unknown'})"
    if build.get("message"):
        text += f": {build['message']}"
    if build.get("evidence"):
        line = build.get("evidence_line")
        text += f" - evidence{f' (log line {line})' if line else ''}: {build['evidence']}"
    return text


def _smoke_said(smoke: dict[str, Any] | None, which: str) -> str:
    if smoke is None:
        return " (smoke not run)"
    return " and passes the smoke" if (smoke.get(which) or {}).get("passed") else ""


def _drift_text(drift: dict[str, list[str]]) -> str:
    shown = ", ".join(drift.get("only_original", [])[:5])
    return f"the original builds but drifts from the pinned versions today: {shown}"


def _no_repair(fix: dict[str, Any] | None) -> str:
    if fix is None:
        return "fix was not run, so there is no repaired copy"
    if fix.get("status") == "nothing-to-fix":
        return "fix found nothing it can change"
    return "fix produced no repaired copy: " + "; ".join(
        (fix.get("errors") or []) + (fix.get("skipped_reasons") or [])[:5] or [fix["status"]])
