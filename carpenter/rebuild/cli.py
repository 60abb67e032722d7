"""`carpenter rebuild`: build a submission on a real engine under limits, say why it failed."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import click

from carpenter.core.errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, ConfigError, InputError
from carpenter.core.options import parse_build_args, parse_pairs
from carpenter.rebuild.interface import DEFAULT_STALL_S, DEFAULT_TIMEOUT_S, BuildRequest, SecretSpec

# docker's reference grammar, simplified: [host[:port]/]name[/name...][:tag]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG_RE = re.compile(
    rf"^(?:[A-Za-z0-9.-]+(?::\d+)?/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?$"
)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """`512m`, `2g`, `1GiB`, `1048576` -> bytes (powers of 1024, as docker does)."""
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(f"--memory {text!r}: expected a size such as 512m or 4g")
    power = " kmgt".index(match.group(2).lower() or " ")
    return int(float(match.group(1)) * 1024**power)


def check_tag(tag: str) -> str:
    if not _TAG_RE.match(tag) or len(tag) > 255:
        raise ConfigError(f"--tag {tag!r}: not a valid image reference (lower-case name, "
                          "optional :tag)")
    return tag


def parse_secret(value: str) -> SecretSpec:
    fields = parse_pairs(tuple(value.split(",")), "--secret")
    unknown = set(fields) - {"id", "src", "source", "env"}
    secret_id = fields.get("id")
    src = fields.get("src") or fields.get("source")
    env = fields.get("env")
    if unknown or not secret_id or (src is None) == (env is None):
        raise ConfigError(f"--secret {value.split(',')[0]},...: expected id=NAME and exactly one "
                          "of src=FILE or env=VARIABLE")
    return SecretSpec(id=secret_id, src=src, env=env)


def resolve_paths(path: Path, dockerfile: Path | None, context: Path | None) -> tuple[Path, Path]:
    """(context, dockerfile) from PATH (a folder or a Dockerfile) and the overrides."""
    if not path.exists():
        raise InputError("no such file or folder", path=str(path))
    if path.is_file():
        dockerfile = dockerfile or path
        context = context or path.parent
    else:
        context = context or path
        if dockerfile is None:
            dockerfile = path / "Dockerfile"
        elif not dockerfile.is_absolute() and not dockerfile.exists():
            dockerfile = path / dockerfile
    if not dockerfile.is_file():
        raise InputError("Dockerfile not found", path=str(dockerfile))
    if not context.is_dir():
        raise InputError("build context is not a folder", path=str(context))
    return context.resolve(), dockerfile.resolve()


@click.command("rebuild")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--dockerfile", type=click.Path(path_type=Path),
              help="Dockerfile (default PATH/Dockerfile).")
@click.option("--context", type=click.Path(path_type=Path), help="Build context (default PATH).")
@click.option("--tag", help="Image tag (default carpenter/rebuild-<folder>:latest).")
@click.option("--timeout", type=click.FloatRange(min=1), default=DEFAULT_TIMEOUT_S,
              show_default=True, help="Wall-clock limit in seconds, upload included.")
@click.option("--stall-timeout", type=click.FloatRange(min=1), default=DEFAULT_STALL_S,
              show_default=True, help="Cancel after this many seconds without build output.")
@click.option("--memory", help="Memory cap per build step, e.g. 4g (legacy builder only).")
@click.option("--network", type=click.Choice(["default", "none"]), default="default",
              show_default=True)
@click.option("--build-arg", "build_args", multiple=True, metavar="K=V")
@click.option("--secret", "secrets", multiple=True, metavar="id=NAME,src=FILE|env=VAR",
              help="Build secret (BuildKit); the value is redacted from every output.")
@click.option("--ca-bundle", type=click.Path(path_type=Path, dir_okay=False),
              help="CA bundle for TLS-intercepting proxies, mounted into RUN steps only.")
@click.option("--base-map", "base_maps", multiple=True, metavar="REF=IMAGE",
              help="Build FROM REF on IMAGE instead (stated in the result).")
@click.option("--backend", type=click.Choice(["auto", "legacy", "buildkit"]), default="auto",
              show_default=True)
@click.option("--no-cache", is_flag=True)
@click.option("--compare", is_flag=True, help="Also build the `carpenter fix --out` copy.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--log", "log_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Build log file (secrets redacted); default under the temp folder.")
def rebuild(
    path: Path, dockerfile: Path | None, context: Path | None, tag: str | None, timeout: float,
    stall_timeout: float, memory: str | None, network: str, build_args: tuple[str, ...],
    secrets: tuple[str, ...], ca_bundle: Path | None, base_maps: tuple[str, ...], backend: str,
    no_cache: bool, compare: bool, fmt: str, log_path: Path | None,
) -> None:
    """Build PATH (a submission folder or a Dockerfile) on a real Docker engine.

    Exit 0 when the image was built, 1 when the build failed (timeout included), 2 when it
    could not run (no engine, bad arguments).
    """
    from carpenter.rebuild.rebuild import default_tag
    from carpenter.rebuild.rebuild import rebuild as run_rebuild

    # A CI job killed with SIGTERM must still cancel the build (the backends clean up on the
    # way out, as for Ctrl-C); the default action would exit without unwinding.
    signal.signal(signal.SIGTERM, _terminated)
    ctx, df = resolve_paths(path, dockerfile, context)
    if ca_bundle is not None and not ca_bundle.is_file():
        raise InputError("CA bundle not found", path=str(ca_bundle))
    request = BuildRequest(
        context=ctx, dockerfile=df, tag=check_tag(tag) if tag else default_tag(ctx),
        timeout=timeout,
        stall_timeout=stall_timeout, memory=parse_size(memory) if memory else None,
        network=network, build_args=parse_build_args(build_args),
        secrets=[parse_secret(s) for s in secrets], ca_bundle=ca_bundle, no_cache=no_cache,
        base_map=parse_pairs(base_maps, "--base-map"), backend=backend,
    )
    if not compare:
        result = run_rebuild(request, log_path)
        _emit({"result": result.to_dict()} if fmt == "json" else result, fmt)
        sys.exit(EXIT_OK if result.built else EXIT_FINDINGS)
    sys.exit(_compare(request, path, log_path, fmt))


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _compare(request: BuildRequest, path: Path, log_path: Path | None, fmt: str) -> int:
    from carpenter.rebuild.rebuild import rebuild as run_rebuild

    original = run_rebuild(request, _suffixed(log_path, "original"))
    with tempfile.TemporaryDirectory(prefix="carpenter-fixed-") as tmp:
        fixed_dir = Path(tmp) / "fixed"
        problem = _run_fix(path, fixed_dir)
        fixed = None
        if problem is None:
            fixed_request = _fixed_request(request, path, fixed_dir)
            fixed = run_rebuild(fixed_request, _suffixed(log_path, "fixed"))
    fix_info = {"status": "unavailable" if problem else "ok", "message": problem or ""}
    diff = freeze_diff(original.pip_freeze, fixed.pip_freeze if fixed else None)
    if fmt == "json":
        _emit({"original": original.to_dict(), "fixed": fixed.to_dict() if fixed else None,
               "fix": fix_info, "pip_freeze_diff": diff}, fmt)
    else:
        click.echo("== original")
        _emit(original, fmt)
        click.echo("== fixed (carpenter fix --out)")
        if fixed is None:
            click.echo(f"fix unavailable: {problem}")
        else:
            _emit(fixed, fmt)
        if diff is not None:
            click.echo(f"== pip freeze: {len(diff['only_original'])} only in original, "
                       f"{len(diff['only_fixed'])} only in fixed")
            click.echo("\n".join([f"  - {ln}" for ln in diff["only_original"]]
                                 + [f"  + {ln}" for ln in diff["only_fixed"]]) or "  identical")
    if fixed is None:
        return EXIT_ERROR
    return EXIT_OK if fixed.built else EXIT_FINDINGS


def freeze_diff(original: list[str] | None, fixed: list[str] | None) -> dict | None:
    """What differs between two images' installed distributions (None unless both known)."""
    if original is None or fixed is None:
        return None
    return {"only_original": sorted(set(original) - set(fixed)),
            "only_fixed": sorted(set(fixed) - set(original))}


def _run_fix(path: Path, out: Path) -> str | None:
    """Run `carpenter fix PATH --out DIR` (its public contract); None on success, else why not."""
    try:
        done = subprocess.run(
            [sys.executable, "-P", "-m", "carpenter.cli", "fix", str(path), "--out", str(out)],
            capture_output=True, text=True, timeout=600, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"carpenter fix could not run: {exc}"
    if done.returncode not in (0, 1) or not out.is_dir():
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        return f"carpenter fix exited {done.returncode}: {lines[-1][:300]}"
    return None


def _fixed_request(request: BuildRequest, path: Path, fixed_dir: Path) -> BuildRequest:
    root = path.resolve() if path.is_dir() else path.resolve().parent
    def moved(p: Path) -> Path:
        try:
            return fixed_dir / p.relative_to(root)
        except ValueError:
            return p  # outside the submission folder: fix did not copy it
    name, _, version = request.tag.rpartition(":")
    tag = f"{name}:{version}-fixed" if name and "/" not in version else f"{request.tag}-fixed"
    return replace(request, context=moved(request.context), dockerfile=moved(request.dockerfile),
                   tag=tag)


def _suffixed(log_path: Path | None, suffix: str) -> Path | None:
    if log_path is None:
        return None
    return log_path.with_name(f"{log_path.stem}.{suffix}{log_path.suffix or '.log'}")


def _emit(result: object, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(result, indent=2, sort_keys=True))
        return
    click.echo(render_text(result))  # type: ignore[arg-type]


def _size(n: int | None) -> str:
    return f"{n / 1e6:.1f} MB" if n is not None else "size unknown"


def render_text(result) -> str:  # BuildResult; untyped to keep the import lazy
    lines = []
    if result.built:
        short_id = (result.image_id or "")[:19]
        lines.append(f"built {result.tag} {short_id} ({_size(result.image_size)})"
                     f" in {result.duration_s:.1f} s [{result.backend}]")
        count = len(result.pip_freeze) if result.pip_freeze is not None else None
        lines.append(f"  pip freeze: {count} distributions" if count is not None
                     else "  pip freeze: unavailable")
    else:
        lines.append(f"FAILED {result.failure_class}: {result.message} "
                     f"({result.duration_s:.1f} s, {result.backend})")
        if result.evidence:
            where = f" (log line {result.evidence_line})" if result.evidence_line else ""
            lines.append(f"  evidence{where}: {result.evidence}")
        if result.exit_code is not None:
            lines.append(f"  exit code: {result.exit_code}")
    for sub in result.base_substitutions:
        lines.append(f"  base image substituted: {sub['ref']} -> {sub['image']} "
                     f"(line {sub['line']}); the result is for the stand-in")
    lines.extend(f"  note: {note}" for note in result.notes)
    lines.append(f"  log: {result.log_path}")
    return "\n".join(lines)
