"""`carpenter check PATH`: the whole pipeline for one submission, one verdict, one exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from carpenter.core.errors import ConfigError, InputError
from carpenter.pipeline.stages import STAGES, CheckOptions

CHECK_KEYS = ("stages", "snapshot", "profile", "build-arg", "secret", "ca-bundle", "base-map",
              "timeout", "smoke-timeout", "gpu", "env", "network", "memory", "backend")


def parse_stages(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in names if s not in STAGES]
    if unknown or not names:
        raise ConfigError(f"--stages {text!r}: expected a comma-separated subset of "
                          f"{','.join(STAGES)}")
    return names


def config_defaults(config_file: Path | None, start: Path) -> dict[str, Any]:
    """The `[check]` table of the config file (.carpenter.toml or [tool.carpenter])."""
    from carpenter.scan.config import find_config_file, load_file_settings

    found = config_file or find_config_file(start)
    if found is None:
        return {}
    table = load_file_settings(found).get("check", {})
    if not isinstance(table, dict):
        raise ConfigError("[check] must be a table", path=str(found))
    unknown = sorted(set(table) - set(CHECK_KEYS))
    if unknown:
        raise ConfigError(f"[check]: unknown key(s) {', '.join(unknown)} "
                          f"(known: {', '.join(CHECK_KEYS)})", path=str(found))
    return table


def _pairs(value: Any, option: str) -> tuple[str, ...]:
    """Config tables ({K = V}) and lists (["K=V"]) as the command line's K=V strings."""
    if isinstance(value, dict):
        return tuple(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    raise ConfigError(f"[check] {option}: expected a table or a list of K=V")


def build_options(params: dict[str, Any], config: dict[str, Any]) -> CheckOptions:
    """CheckOptions from the command line, falling back to the config file's [check]."""
    from carpenter.core.options import parse_build_args, parse_pairs, parse_secret, parse_size

    def pick(name: str, key: str) -> Any:
        value = params.get(name)
        if value in (None, ()) and key in config:
            return config[key]
        return value

    multi = {k: _pairs(pick(n, k) or (), k) for n, k in (
        ("build_args", "build-arg"), ("base_maps", "base-map"), ("envs", "env"),
        ("secrets", "secret"))}
    ca_bundle = pick("ca_bundle", "ca-bundle")
    if ca_bundle and not Path(ca_bundle).is_file():
        raise InputError("CA bundle not found", path=str(ca_bundle))
    memory = pick("memory", "memory")
    env = parse_build_args(multi["env"], option="--env")
    secrets = [vars(parse_secret(s)) for s in multi["secret"]]
    return CheckOptions(
        stages=parse_stages(pick("stages", "stages") or ",".join(STAGES)),
        snapshot=pick("snapshot", "snapshot"), profile=pick("profile", "profile"),
        config_file=str(params["config_file"]) if params.get("config_file") else None,
        build_args=parse_build_args(multi["build-arg"]), secrets=secrets,
        ca_bundle=str(Path(ca_bundle).resolve()) if ca_bundle else None,
        base_map=parse_pairs(multi["base-map"], "--base-map"),
        timeout=float(pick("timeout", "timeout") or 3600),
        smoke_timeout=float(pick("smoke_timeout", "smoke-timeout") or 600),
        gpu=pick("gpu", "gpu") or "auto", env=env, network=pick("network", "network") or "default",
        memory=parse_size(str(memory)) if memory else None,
        backend=pick("backend", "backend") or "auto")


def pipeline_options(func: Any) -> Any:
    """The options `check` and `batch` share (every stage option passes through)."""
    options = [
        click.option("--stages", help=f"Comma-separated subset of {','.join(STAGES)} "
                     "(default: all)."),
        click.option("--snapshot", help="Snapshot fix pins against (default neurips-2023)."),
        click.option("--profile", type=click.Choice(["neurips-2023"]),
                     help="Competition profile: scan rules and the smoke's server contract."),
        click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
                     help="Config file; its [check] table gives defaults for these options."),
        click.option("--build-arg", "build_args", multiple=True, metavar="K=V"),
        click.option("--secret", "secrets", multiple=True, metavar="id=NAME,src=FILE|env=VAR",
                     help="Build secret; the value is redacted from every output."),
        click.option("--ca-bundle", type=click.Path(path_type=Path, dir_okay=False)),
        click.option("--base-map", "base_maps", multiple=True, metavar="REF=IMAGE",
                     help="Build FROM REF on IMAGE; each difference becomes a note."),
        click.option("--timeout", type=click.FloatRange(min=1),
                     help="Build wall clock in seconds (default 3600)."),
        click.option("--smoke-timeout", type=click.FloatRange(min=1),
                     help="Smoke wall clock in seconds (default 600)."),
        click.option("--gpu", type=click.Choice(["auto", "none", "all"])),
        click.option("--env", "envs", multiple=True, metavar="K=V",
                     help="Environment for the smoke containers (e.g. a token the fix moved "
                          "out of the image)."),
        click.option("--network", type=click.Choice(["default", "none"])),
        click.option("--memory", help="Memory cap per build step, e.g. 4g."),
        click.option("--backend", type=click.Choice(["auto", "legacy", "buildkit"])),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command("check")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--dockerfile", help="Dockerfile inside PATH (default Dockerfile).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the report, the patch, the repaired copy and the logs "
                   "(default ./carpenter-check/<name>).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@pipeline_options
def check(path: Path, dockerfile: str | None, out: Path | None, fmt: str,
          **params: Any) -> None:
    """Scan, fix (into a copy), rebuild and smoke PATH; print one verdict.

    Exit 0 reproducible, 10 repaired (the patch is the deliverable), 11 needs a human,
    2 when the check could not run.
    """
    from carpenter.core.files import write_atomic
    from carpenter.pipeline.check import run_check, submission_for
    from carpenter.pipeline.progress import Progress
    from carpenter.report.interface import render

    options = build_options(params, config_defaults(params.get("config_file"), Path.cwd()))
    out = out or Path("carpenter-check") / (path.resolve().name if path.is_dir()
                                            else path.resolve().parent.name)
    sub = submission_for(path, dockerfile, out)
    logs = Path(sub.work) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with Progress(logs) as progress:
        progress.say(f"carpenter check: {sub.path} ({', '.join(options.stages)}); "
                     f"logs in {logs}")
        result = run_check(sub, options, on_stage=progress.stage_started_now)
    json_text = render(result, "json").stdout
    write_atomic(Path(sub.work) / "report.json", json_text)
    write_atomic(Path(sub.work) / "report.txt", render(result, "text").stdout)
    click.echo(json_text if fmt == "json" else render(result, "text").stdout, nl=False)
    sys.exit(result.exit_code)
