"""`carpenter fix`: pin what scan found against a snapshot; diff by default."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from carpenter.core.errors import EXIT_ERROR, ConfigError
from carpenter.core.options import parse_build_args
from carpenter.fix.engine import STRATEGIES, FixOptions, fix_paths
from carpenter.fix.output import submission_root, write_copy, write_in_place
from carpenter.report.interface import render
from carpenter.scan.cli import check_rule_keys
from carpenter.scan.config import resolve_config
from carpenter.scan.engine import ScanOptions
from carpenter.snapshot.mirrors import configured_mirrors
from carpenter.snapshot.model import DEFAULT_SNAPSHOT, load_snapshot


def _split(values: tuple[str, ...]) -> list[str]:
    return [key.strip() for value in values for key in value.split(",") if key.strip()]


def _start(paths: tuple[str, ...]) -> Path:
    first = Path(paths[0]) if paths else Path.cwd()
    return (first if first.is_dir() else first.parent).resolve()


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--snapshot", "snapshot_name", default=DEFAULT_SNAPSHOT, show_default=True,
              help="Bundled snapshot name or a snapshot TOML file.")
@click.option("--context", type=click.Path(file_okay=False), help="Build context folder "
              "(default: each Dockerfile's folder).")
@click.option("--build-arg", "build_args", multiple=True, help="KEY=VALUE, as for docker build.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="rewrite", show_default=True,
              help="rewrite: pin each requirement where it is written. constraints: one "
                   "constraints file + PIP_CONSTRAINT (pins the whole closure).")
@click.option("--write", "write", is_flag=True, help="Rewrite the files in place (atomically).")
@click.option("--out", "out", type=click.Path(path_type=Path),
              help="Write a repaired copy of the whole submission here; input untouched.")
@click.option("--format", "fmt", type=click.Choice(["diff", "json"]), default="diff",
              show_default=True)
@click.option("--max-jobs", default=4, show_default=True,
              help="MAX_JOBS for CUDA extensions that must compile from source.")
@click.option("--jobs", "-j", type=int, default=0,
              help="Worker processes (default: one per CPU; 1 = no workers).")
@click.option("--resolve", is_flag=True, help="Resolve packages missing from the snapshot at "
              "its date (needs network access to PyPI).")
@click.option("--offline", is_flag=True, envvar="CARPENTER_OFFLINE",
              help="Use only the bundled snapshot: no registry, git, hub or PyPI look-ups "
                   "(default: look digests, commits and revisions up as of the snapshot date, "
                   "falling back to the snapshot where a source does not answer).")
@click.option("--registry-mirror", "registry_mirrors", multiple=True, metavar="[REGISTRY=]URL",
              help="Ask this pull-through cache for base-image digests before the registry "
                   "(REGISTRY defaults to docker.io; the URL path is a repository prefix on "
                   "the mirror, as a Harbor proxy-cache project). Repeatable; "
                   "CARPENTER_REGISTRY_MIRRORS adds more, and the Docker daemon's "
                   "registry-mirrors (daemon.json) are asked for docker.io.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Scan configuration file (default: nearest .carpenter.toml).")
@click.option("--select", multiple=True, help="Fix only these rules (ids, prefixes, names, "
              "categories; comma-separated or repeated).")
@click.option("--ignore", multiple=True, help="Do not fix these rules.")
@click.option("--unsafe-fixes/--no-unsafe-fixes", default=True, show_default=True,
              help="Apply fixes that change behaviour, not only pins (moving a token to a "
                   "build secret, changing a CUDA extension's install); they are marked "
                   "[unsafe] either way.")
def fix(paths: tuple[str, ...], snapshot_name: str, context: str | None,
        build_args: tuple[str, ...], strategy: str, write: bool, out: Path | None, fmt: str,
        max_jobs: int, jobs: int, resolve: bool, offline: bool,
        registry_mirrors: tuple[str, ...], config_file: Path | None,
        select: tuple[str, ...], ignore: tuple[str, ...], unsafe_fixes: bool) -> None:
    """Pin what `scan` finds in PATHS against a snapshot.

    Prints a unified diff (secrets redacted) unless --write or --out is given.
    Exit 0: every fixable finding fixed; 1: some could not be fixed (see the reasons);
    2: cannot run.
    """
    if write and out:
        raise ConfigError("--write and --out exclude each other")
    if max_jobs < 1:
        raise ConfigError("--max-jobs must be at least 1")
    mirrors = configured_mirrors(registry_mirrors)  # a bad value stops here, before any work
    snapshot = load_snapshot(snapshot_name)
    keys = {"select": _split(select), "ignore": _split(ignore)}
    config = resolve_config(keys, _start(paths), config_file)
    check_rule_keys(config)
    scan = ScanOptions(config=config, context=context, build_args=parse_build_args(build_args))
    workers = jobs if jobs > 0 else (os.cpu_count() or 1)
    result = fix_paths(paths, FixOptions(snapshot, strategy, scan, max_jobs, workers, resolve,
                                         online=not offline, unsafe_fixes=unsafe_fixes,
                                         registry_mirrors=mirrors))
    if not result.errors:
        if write:
            result.written = write_in_place(result.files)
        elif out is not None:
            result.written = write_copy(result.files, submission_root(list(paths), context), out)
    output = render(result, "json" if fmt == "json" else "text", show_diff=not (write or out))
    click.echo(output.stdout, nl=False)
    click.echo(output.stderr, nl=False, err=True)
    sys.exit(EXIT_ERROR if result.errors else result.exit_code())
