"""`carpenter rebuild`: build a submission on a real engine under limits, say why it failed."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from carpenter.core.errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, ConfigError, InputError
from carpenter.core.options import parse_build_args, parse_pairs, parse_secret, parse_size
from carpenter.rebuild.interface import DEFAULT_STALL_S, DEFAULT_TIMEOUT_S, BuildRequest

if TYPE_CHECKING:
    from carpenter.rebuild.compare import CompareResult
    from carpenter.rebuild.interface import BuildResult

# docker's reference grammar, simplified: [host[:port]/]name[/name...][:tag]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG_RE = re.compile(
    rf"^(?:[A-Za-z0-9.-]+(?::\d+)?/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?$"
)


def check_tag(tag: str) -> str:
    if not _TAG_RE.match(tag) or len(tag) > 255:
        raise ConfigError(f"--tag {tag!r}: not a valid image reference (lower-case name, "
                          "optional :tag)")
    return tag


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
    if compare:
        from carpenter.rebuild.compare import compare as run_compare

        outcome = run_compare(request, path, log_path)
        _emit(outcome, fmt)
        sys.exit(_compare_exit(outcome))
    result = run_rebuild(request, log_path)
    _emit(result, fmt)
    sys.exit(EXIT_OK if result.built else EXIT_FINDINGS)


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _compare_exit(outcome: CompareResult) -> int:
    if outcome.fixed is None:
        return EXIT_ERROR
    return EXIT_OK if outcome.fixed.built else EXIT_FINDINGS


def _emit(result: BuildResult | CompareResult, fmt: str) -> None:
    from carpenter.report.interface import render

    output = render(result, fmt)
    click.echo(output.stdout, nl=False)
    click.echo(output.stderr, nl=False, err=True)
