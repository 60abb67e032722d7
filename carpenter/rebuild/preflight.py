"""Before anything runs: pick the backend, check every base image, prepare the Dockerfile.

Findings that make a build pointless (a base image that is neither local nor pullable, BuildKit
syntax without BuildKit) become a failed result with evidence instead of an obscure engine
error minutes later.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carpenter.containers import sdk_errors
from carpenter.core.errors import ConfigError
from carpenter.model.dockerfile import Dockerfile, load_dockerfile
from carpenter.rebuild.interface import BuildRequest, SecretSpec

CA_SECRET_ID = "carpenter_ca"
CA_TARGET = "/run/carpenter/ca.crt"
# Variables read by pip, requests, curl, OpenSSL-based tools, node and uv.
CA_ENV = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE",
          "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO")


# Why BuildKit cannot be used (None: it can), or a function that finds out when asked.
Unavailable = str | None | Callable[[], str | None]


@dataclass
class Preflight:
    dockerfile: Dockerfile
    backend: str  # legacy | buildkit
    backend_reason: str
    buildkit_features: list[str]
    failure: tuple[str, str, str] | None = None  # (class, message, evidence)
    substitutions: list[dict[str, str]] = field(default_factory=list)
    edits: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, text)
    notes: list[str] = field(default_factory=list)


def choose_backend(
    request: BuildRequest, features: list[str], buildkit_unavailable: Unavailable
) -> tuple[str, str, tuple[str, str, str] | None]:
    """(backend, why, failure). BuildKit only when needed: the legacy builder enforces memory
    limits and cancels cleanly."""
    needs = list(features)
    if request.secrets:
        needs.append("--secret")
    if request.ca_bundle:
        needs.append("--ca-bundle (mounted as a build secret, kept out of the image)")
    if request.backend == "legacy":
        if request.secrets or request.ca_bundle:
            raise ConfigError("--secret and --ca-bundle need the BuildKit backend "
                              "(the legacy builder has no secret mounts)")
        return "legacy", "forced with --backend legacy", None
    if request.backend == "buildkit" or needs:
        why = "forced with --backend buildkit" if request.backend == "buildkit" else (
            "needed for " + ", ".join(dict.fromkeys(needs)))
        if callable(buildkit_unavailable):  # asked only now: it runs the CLI twice
            buildkit_unavailable = buildkit_unavailable()
        if buildkit_unavailable:
            evidence = f"BuildKit unavailable: {buildkit_unavailable}"
            return "buildkit", why, ("needs-buildkit", f"the build needs BuildKit ({why})",
                                     evidence)
        return "buildkit", why, None
    return "legacy", "default (memory limits, clean cancel)", None


def run_preflight(
    request: BuildRequest, client: Any, buildkit_unavailable: Unavailable
) -> Preflight:
    df = load_dockerfile(str(request.dockerfile), build_args=request.build_args)
    features = [
        f"{reason} (line {inst.start_line})" if inst is not None else reason
        for reason, inst in df.buildkit_features()
    ]
    backend, why, failure = choose_backend(request, features, buildkit_unavailable)
    pre = Preflight(df, backend, why, features, failure)
    if failure is None:
        _check_bases(pre, request, client)
    if pre.failure is None and request.ca_bundle and backend == "buildkit":
        _mount_ca(pre)
    if request.memory and backend == "buildkit":
        pre.notes.append("--memory is not enforced by BuildKit (moby/buildkit#593); "
                         "a runaway step is only stopped by the wall clock")
    return pre


def _check_bases(pre: Preflight, request: BuildRequest, client: Any) -> None:
    used = {s.base for s in pre.dockerfile.stages} | {s.base_raw for s in pre.dockerfile.stages}
    pre.notes.extend(f"--base-map {ref}: no FROM uses this image; ignored"
                     for ref in request.base_map if ref not in used)
    for stage in pre.dockerfile.stages:
        if stage.is_stage_ref:
            continue
        line = stage.base_span.line
        if stage.base is None:
            pre.failure = ("base-image-missing",
                           f"FROM {stage.base_raw} (Dockerfile line {line}): a variable has no "
                           "value; pass it with --build-arg",
                           f"{pre.dockerfile.path}:{line}: FROM {stage.base_raw}")
            return
        if stage.base.lower() == "scratch":
            continue
        target = request.base_map.get(stage.base) or request.base_map.get(stage.base_raw)
        if target:
            pre.substitutions.append({"ref": stage.base, "image": target, "line": str(line)})
            pre.edits.append((stage.base_span.offset, stage.base_span.end_offset, target))
        problem = _base_problem(client, target or stage.base)
        if problem:
            shown = f"{stage.base} -> {target}" if target else stage.base
            pre.failure = ("base-image-missing",
                           f"base image {shown} (Dockerfile line {line}) {problem}",
                           f"{pre.dockerfile.path}:{line}: FROM {stage.base_raw}")
            return


def _base_problem(client: Any, ref: str) -> str | None:
    """None when `ref` is local or its registry knows it; else why not."""
    DockerException = sdk_errors().DockerException

    try:
        client.inspect_image(ref)
        return None
    except DockerException:
        pass
    try:
        client.inspect_distribution(ref)
        return None  # pullable: the build will pull it
    except DockerException as exc:
        reason = str(getattr(exc, "explanation", None) or exc).splitlines()[0][:200]
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"[:200]
    return f"is not present locally and cannot be pulled ({reason})"


def _mount_ca(pre: Preflight) -> None:
    """Give every shell-form RUN the CA as a secret mount plus the variables tools read; the
    bundle never becomes part of a layer."""
    exports = " ".join(f"{name}={CA_TARGET}" for name in CA_ENV)
    mount = f"--mount=type=secret,id={CA_SECRET_ID},target={CA_TARGET},mode=0444 "
    skipped = 0
    for inst in pre.dockerfile.instructions:
        if inst.keyword != "RUN":
            continue
        if inst.json_args is not None or inst.heredocs:
            skipped += 1
            continue
        pre.edits.append((inst.args_offset, inst.args_offset, f"{mount}export {exports}; "))
    if skipped:
        pre.notes.append(f"--ca-bundle: {skipped} exec-form/heredoc RUN step(s) left unchanged")


def prepare_dockerfile(pre: Preflight, workdir: Path) -> Path | None:
    """Write the Dockerfile with the pre-flight edits applied (line numbers unchanged);
    None when there is nothing to change."""
    if not pre.edits:
        return None
    text = pre.dockerfile.source.text
    for start, end, replacement in sorted(pre.edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    out = workdir / "Dockerfile"
    out.write_text(text, encoding="utf-8")
    return out


def secret_files(secrets: list[SecretSpec], workdir: Path) -> tuple[dict[str, str], list[str]]:
    """Secret id -> file for the CLI, plus the values to redact. Env secrets are written to a
    0600 file in a private folder (works with every CLI version, never on the command line)."""
    files: dict[str, str] = {}
    values: list[str] = []
    for spec in secrets:
        if spec.env is not None:
            value = os.environ.get(spec.env)
            if value is None:
                raise ConfigError(f"--secret id={spec.id},env={spec.env}: {spec.env} is not set")
            path = workdir / f"secret-{len(files)}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(value)
            files[spec.id] = str(path)
            values.append(value)
        else:
            src = Path(spec.src or "")
            if not src.is_file():
                raise ConfigError(f"--secret id={spec.id},src={spec.src}: no such file")
            files[spec.id] = str(src.resolve())
            if src.stat().st_size <= 64 * 1024:
                values.append(src.read_text(encoding="utf-8", errors="replace").strip())
    return files, values
