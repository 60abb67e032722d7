"""`carpenter batch INPUT --out DIR`: check many submissions; rerun the command to resume."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from carpenter.core.errors import ConfigError
from carpenter.pipeline.cli import build_options, config_defaults, pipeline_options


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@click.command("batch")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Holds the state database, work folders, report.html, results.csv/json.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True)
@click.option("--ray-address", help="Ray cluster to join (default RAY_ADDRESS, else a local "
                                    "cluster in this process).")
@click.option("--ray-resource", "ray_resources", multiple=True, metavar="NAME=N",
              help="Custom Ray resource rebuild/smoke tasks need, e.g. docker=1 (nodes with "
                   "an engine).")
@click.option("--jobs", type=click.IntRange(min=1), help="Worker processes (default: the "
              "machine's CPUs).")
@click.option("--max-builds", type=click.IntRange(min=1), help="Concurrent builds "
              "(default: half the CPUs).")
@click.option("--max-smokes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Concurrent smokes.")
@pipeline_options
def batch(input_path: Path, out: Path, executor: str, ray_address: str | None,
          ray_resources: tuple[str, ...], jobs: int | None, max_builds: int | None,
          max_smokes: int, **params: Any) -> None:
    """Check every submission of INPUT (a folder of submission folders, or a CSV/JSONL
    manifest with id, path or url, commit, dockerfile, track).

    Killed and started again with the same command, it continues where it stopped.
    Exit 0 when every submission has a verdict, 2 when the batch could not run.
    """
    from carpenter.batch.driver import Driver, Limits
    from carpenter.batch.exports import write_exports
    from carpenter.batch.inputs import load_inputs
    from carpenter.batch.progress import progress_for_terminal

    entries = load_inputs(input_path)
    options = build_options(params, config_defaults(params.get("config_file"), Path.cwd()))
    options.tag_prefix = "carpenter-batch"
    workers = jobs or default_jobs()
    limits = Limits(jobs=2 * workers, builds=max_builds or max(1, workers // 2),
                    smokes=max_smokes)
    out.mkdir(parents=True, exist_ok=True)
    click.echo(f"carpenter batch: {len(entries)} submissions, stages "
               f"{','.join(options.stages)}, executor {executor}; state in "
               f"{out / 'state.db'}", err=True)
    runner = _executor(executor, workers, ray_address, ray_resources, options.gpu == "all")
    progress = progress_for_terminal()
    try:
        tally = Driver(entries, out, options, runner, limits, progress).run()
    finally:
        runner.close()
    progress.finish(tally)
    click.echo(f"ran {sum(tally.stages.values())} stage(s) in this run; {tally.resumed} "
               "submission(s) were already complete", err=True)
    paths = write_exports(out)
    click.echo(f"results: {paths['csv']}  {paths['json']}", err=True)
    click.echo(f"report: {paths['html']}")
    sys.exit(0)


def _executor(name: str, workers: int, address: str | None, resources: tuple[str, ...],
              gpu: bool) -> Any:
    from carpenter.batch.executors import LocalExecutor, RayExecutor
    from carpenter.core.options import parse_pairs

    if name == "local":
        return LocalExecutor(workers)
    amounts = {}
    for key, value in parse_pairs(resources, "--ray-resource").items():
        try:
            amounts[key] = float(value)
        except ValueError:
            raise ConfigError(f"--ray-resource {key}={value}: expected a number") from None
    return RayExecutor(address, gpu, amounts)
