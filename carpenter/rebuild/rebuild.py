"""The rebuild stage's entry point: `rebuild(request) -> BuildResult`."""

from __future__ import annotations

import re
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from carpenter.containers import connect
from carpenter.core.redact import remember
from carpenter.rebuild.buildkit_cli import BuildKitBackend
from carpenter.rebuild.classify import classify
from carpenter.rebuild.freeze import cached_pip_freeze
from carpenter.rebuild.interface import (
    Backend,
    BackendOutcome,
    BuildRequest,
    BuildResult,
    LogSink,
    PreparedBuild,
)
from carpenter.rebuild.preflight import (
    CA_SECRET_ID,
    Preflight,
    prepare_dockerfile,
    run_preflight,
    secret_files,
)
from carpenter.rebuild.sdk_legacy import LegacyBackend


def default_tag(context: Path) -> str:
    # Only [a-z0-9-]: any folder name becomes a valid reference component.
    slug = re.sub(r"[^a-z0-9]+", "-", context.resolve().name.lower()).strip("-") or "build"
    return f"carpenter/rebuild-{slug}:latest"


def default_log_path(context: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", context.resolve().name) or "build"
    return Path(tempfile.gettempdir()) / "carpenter-logs" / f"rebuild-{slug}-{stamp}.log"


def backends() -> dict[str, Backend]:
    return {"legacy": LegacyBackend(), "buildkit": BuildKitBackend()}


def rebuild(request: BuildRequest, log_path: Path | None = None) -> BuildResult:
    """Build `request` on the engine; EngineError/ConfigError/InputError when it cannot run."""
    started = time.monotonic()  # the wall clock covers pre-flight and the context upload too
    client = connect()
    available = backends()
    log_path = log_path or default_log_path(request.context)
    result = BuildResult(
        path=str(request.context), dockerfile=str(request.dockerfile), status="failed",
        tag=request.tag, log_path=str(log_path),
    )
    with tempfile.TemporaryDirectory(prefix="carpenter-build-") as tmp:
        workdir = Path(tmp)
        files, values = secret_files(request.secrets, workdir)
        remember(values)  # --secret values: masked in the log and in every other output
        pre = run_preflight(request, client, available["buildkit"].unavailable_reason)
        sink = LogSink(log_path, values)
        try:
            _log_header(sink, request, pre)
            result.backend = pre.backend
            result.base_substitutions = pre.substitutions
            result.notes.extend(pre.notes)
            result.timings["preflight_s"] = round(time.monotonic() - started, 2)
            if pre.failure is not None:
                _preflight_failed(result, pre, sink)
            else:
                if request.ca_bundle and pre.backend == "buildkit":
                    files[CA_SECRET_ID] = str(request.ca_bundle.resolve())
                prepared = PreparedBuild(
                    request=request,
                    dockerfile=prepare_dockerfile(pre, workdir) or request.dockerfile,
                    secret_files=files, secret_values=values, started=started,
                )
                build_started = time.monotonic()
                outcome = available[pre.backend].build(prepared, sink)
                result.timings["build_s"] = round(time.monotonic() - build_started, 2)
                _finish(result, outcome, request, sink, client)
                _parse_error_from_new_syntax(result, pre)
                if outcome.ok:
                    result.timings["inspect_s"] = round(
                        time.monotonic() - build_started - result.timings["build_s"], 2)
            result.duration_s = round(time.monotonic() - started, 2)
            sink.note(f"result: {result.status} {result.failure_class or ''}".rstrip())
        finally:
            sink.close()
    client.close()
    return result


def _log_header(sink: LogSink, request: BuildRequest, pre: Preflight) -> None:
    sink.note(f"rebuild {request.context} (Dockerfile {request.dockerfile})")
    sink.note(f"backend {pre.backend}: {pre.backend_reason}")
    sink.note(f"timeout {request.timeout:g} s, stall {request.stall_timeout:g} s, "
              f"memory {request.memory or 'unlimited'}, network {request.network}")
    for sub in pre.substitutions:
        sink.note(f"base image substituted: {sub['ref']} -> {sub['image']} (line {sub['line']})")
    for note in pre.notes:
        sink.note(note)


def _preflight_failed(result: BuildResult, pre: Preflight, sink: LogSink) -> None:
    failure_class, message, evidence = pre.failure  # type: ignore[misc]
    sink.note(f"pre-flight: {message}")
    sink.note(f"evidence: {evidence}")
    result.failure_class = failure_class
    result.message = message
    result.evidence = evidence
    result.evidence_line = sink.count


def _finish(
    result: BuildResult, outcome: BackendOutcome, request: BuildRequest, sink: LogSink,
    client: object,
) -> None:
    result.backend = outcome.backend
    if outcome.swept:
        result.notes.append(f"removed {len(outcome.swept)} leftover build container(s)")
    if outcome.untagged:
        result.notes.append(f"removed tag {request.tag} applied by the cancelled build")
    if outcome.ok:
        result.status = "built"
        result.image_id = outcome.image_id
        _describe_image(result, client)
        return
    found = classify(
        outcome, list(sink.lines), timeout_s=request.timeout, stall_s=request.stall_timeout,
        memory_limited=bool(request.memory) and outcome.backend == "legacy",
    )
    result.failure_class = found.failure_class
    result.message = found.message
    result.evidence = found.evidence
    result.evidence_line = found.evidence_line
    result.exit_code = found.exit_code


def _parse_error_from_new_syntax(result: BuildResult, pre: Preflight) -> None:
    """An engine whose frontend predates heredocs reads their bodies as instructions: that is
    not a broken Dockerfile but one that needs a newer BuildKit frontend."""
    if result.failure_class != "parse-error" or not pre.buildkit_features:
        return
    result.failure_class = "needs-buildkit"
    result.message = (
        f"this engine's Dockerfile frontend cannot parse {', '.join(pre.buildkit_features)}; "
        "it needs a newer BuildKit frontend (docker buildx, or `# syntax=docker/dockerfile:1` "
        "with registry access)"
    )


def _describe_image(result: BuildResult, client: object) -> None:
    try:
        result.image_size = client.inspect_image(result.image_id)["Size"]  # type: ignore[attr-defined]
    except Exception as exc:
        result.notes.append(f"image size unavailable: {type(exc).__name__}")
    freeze, problem = cached_pip_freeze(client, result.image_id or "")
    result.pip_freeze = freeze
    if problem:
        result.notes.append(problem)
