"""`carpenter scan`, `carpenter rules`, `carpenter explain`.

Exit codes: 0 nothing at or above --fail-on, 1 findings, 2 usage error or a file that could not
be read (every other file is still scanned and reported).
"""

from __future__ import annotations

import difflib
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from carpenter.core.errors import EXIT_ERROR, ConfigError
from carpenter.core.options import parse_build_args
from carpenter.core.redact import safe_text
from carpenter.report.interface import FORMATS, write_atomic
from carpenter.scan.finding import CATEGORIES, SEVERITIES


def _split_keys(values: tuple[str, ...]) -> list[str]:
    """`--select A,B --select C` -> [A, B, C]."""
    return [key.strip() for value in values for key in value.split(",") if key.strip()]


def _config_start(paths: tuple[str, ...]) -> Path:
    """Where the search for .carpenter.toml / pyproject.toml begins: the first input's folder."""
    first = Path(paths[0]) if paths else Path.cwd()
    folder = first if first.is_dir() else first.parent
    return folder.resolve() if str(folder) else Path.cwd()


def _check_rule_keys(config: Any) -> None:
    """Unknown ids in select/ignore are a usage error (a typo would silently disable nothing)."""
    keys = [key for key in (*config.select, *config.extend_select, *config.ignore,
                            *config.profile_rules)
            if key.upper() != "ALL" and key.lower() not in CATEGORIES]
    if not keys:
        return  # nothing to look up: do not import every rule module for a cached scan
    from carpenter.scan.config import rule_matches
    from carpenter.scan.registry import all_rules

    rules = list(all_rules().values())
    names = [r.id for r in rules] + [r.name for r in rules] + list(CATEGORIES)
    for key in keys:
        if any(rule_matches(rule, key) for rule in rules):
            continue
        close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown rule, rule prefix or category {key!r}{hint}")


def _use_color(choice: str, output: str | None) -> bool:
    if choice == "always":
        return True
    if choice == "never" or output is not None or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def _missing_folders(paths: tuple[str, ...], files: list[str]) -> list[dict[str, Any]]:
    """A folder argument with no Dockerfile under it is an error, not a silent pass."""
    errors = []
    for path in paths:
        if not os.path.isdir(path):
            continue
        prefix = os.path.join(os.path.abspath(path), "")
        if not any(os.path.abspath(f).startswith(prefix) for f in files):
            errors.append({"path": path, "line": None,
                           "message": "no Dockerfile found in this folder"})
    return errors


def _emit(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(output, safe_text(text))  # a report file is an output like stdout


# ---------------------------------------------------------------------------------------------
# carpenter scan


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--context", "context", type=click.Path(exists=True, file_okay=False),
              help="Build context folder (default: each Dockerfile's folder).")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=1, show_default=True,
              help="Parallel worker processes (0: one per CPU).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Write the report to FILE (atomically) instead of stdout.")
@click.option("--select", multiple=True,
              help="Only these rules (ids, id prefixes, names, categories).")
@click.option("--extend-select", multiple=True, help="Add rules to the selection.")
@click.option("--ignore", multiple=True, help="Skip these rules.")
@click.option("--fail-on", type=click.Choice(SEVERITIES),
              help="Lowest severity that makes the exit code 1 (default: warning).")
@click.option("--profile", help="Settings profile from carpenter/data/profiles/ "
              "(e.g. a competition).")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="Use this .carpenter.toml / pyproject.toml instead of searching for one.")
@click.option("--build-arg", "build_args", multiple=True, metavar="K=V",
              help="Build argument, as for docker build (repeatable).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour text output (NO_COLOR is honoured).")
@click.option("--ignore-pragmas", is_flag=True,
              help="Report findings even where a `# carpenter: ignore[...]` or `# hadolint "
                   "ignore=` comment suppresses them (for scanning someone else's code).")
@click.option("--no-cache", is_flag=True,
              help="Re-check every file; do not read or write the result cache.")
@click.option("--cache-dir", type=click.Path(file_okay=False),
              help="Result cache folder (default: $CARPENTER_CACHE_DIR, else "
                   "~/.cache/carpenter; CARPENTER_NO_CACHE=1 turns it off).")
def scan(
    paths: tuple[str, ...], context: str | None, jobs: int, fmt: str, output: str | None,
    select: tuple[str, ...], extend_select: tuple[str, ...], ignore: tuple[str, ...],
    fail_on: str | None, profile: str | None, config_file: str | None,
    build_args: tuple[str, ...], color: str, ignore_pragmas: bool, no_cache: bool,
    cache_dir: str | None,
) -> int:
    """Check Dockerfiles for unpinned dependencies, shell bugs, secrets and more.

    PATH is a Dockerfile or a folder searched recursively for Dockerfile, Dockerfile.*,
    *.Dockerfile and Containerfile (skipping .git, virtualenvs, node_modules).

    Exit status: 0 nothing at or above --fail-on, 1 findings, 2 usage error or unreadable file.
    """
    from carpenter.report.interface import get_reporter, summary_line
    from carpenter.scan.cache import default_cache_dir
    from carpenter.scan.config import resolve_config
    from carpenter.scan.engine import ScanOptions, scan_paths

    settings = {
        "select": _split_keys(select),
        "extend-select": _split_keys(extend_select),
        "ignore": _split_keys(ignore),
        "fail-on": fail_on,
        "profile": profile,
        "ignore-pragmas": True if ignore_pragmas else None,
    }
    config = resolve_config(
        settings, _config_start(paths), Path(config_file) if config_file else None
    )
    _check_rule_keys(config)
    options = ScanOptions(
        config=config, context=context, build_args=parse_build_args(build_args),
        jobs=jobs or os.cpu_count() or 1,
        cache_dir=None if no_cache else cache_dir or default_cache_dir(),
    )
    report = scan_paths(paths, options)
    report.errors.extend(_missing_folders(paths, report.files))
    width = shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else 100
    reporter = get_reporter(fmt, color=_use_color(color, output), width=width)
    _emit(reporter.render(report), output)
    if fmt == "github" and os.environ.get("GITHUB_STEP_SUMMARY"):
        _append_step_summary(report, os.environ["GITHUB_STEP_SUMMARY"])
    if output is not None:
        cached = f"; {report.cached} from the result cache" if report.cached else ""
        click.echo(f"{summary_line(report)} (report: {output}{cached})", err=True)
    sys.exit(report.exit_code())


def _append_step_summary(report: Any, path: str) -> None:
    from carpenter.report.github import step_summary

    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(safe_text(step_summary(report)))
    except OSError as exc:  # the annotations already went out; the summary is a bonus
        click.echo(f"carpenter: cannot write step summary {path}: {exc.strerror}", err=True)


# ---------------------------------------------------------------------------------------------
# carpenter rules / explain


def _rule_json(rule: Any) -> dict[str, Any]:
    from carpenter.report.interface import rule_summary
    from carpenter.scan.registry import help_uri

    doc = rule.doc()
    return {
        "id": rule.id,
        "name": rule.name,
        "category": rule.category,
        "severity": rule.severity,
        "fixable": rule.fixable,
        "profile_only": rule.profile_only,
        "hadolint": list(rule.hadolint),
        "summary": rule_summary(rule),
        "what": doc.what,
        "why": doc.why,
        "example": doc.example,
        "fix": doc.fix,
        "help_uri": help_uri(rule),
    }


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def rules(fmt: str) -> int:
    """List every rule: id, name, category, default severity, whether `fix` can fix it."""
    import json

    from carpenter.report.interface import rule_summary
    from carpenter.scan.registry import all_rules

    catalogue = list(all_rules().values())
    if fmt == "json":
        click.echo(json.dumps([_rule_json(r) for r in catalogue], indent=2))
        sys.exit(0)
    for rule in catalogue:
        flags = " [fixable]" if rule.fixable else ""
        flags += " [profile]" if rule.profile_only else ""
        click.echo(f"{rule.id:<7} {rule.name:<34} {rule.category:<20} {rule.severity:<8}"
                   f"{rule_summary(rule)}{flags}")
    click.echo(f"{len(catalogue)} rules; `carpenter explain RULE` shows one in full.")
    sys.exit(0)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("rule_key", metavar="RULE")
def explain(rule_key: str) -> int:
    """Show the documentation of RULE (an id like DF001 or a name like unknown-instruction)."""
    from carpenter.report.interface import rule_summary
    from carpenter.scan.registry import all_rules, find_rule, help_uri

    rule = find_rule(rule_key)
    if rule is None:
        catalogue = all_rules().values()
        names = [r.id for r in catalogue] + [r.name for r in catalogue]
        close = difflib.get_close_matches(rule_key, names, n=3, cutoff=0.5)
        close += difflib.get_close_matches(rule_key.upper(), names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(dict.fromkeys(close))}?" if close else ""
        click.echo(f"carpenter: error: unknown rule {rule_key!r}{hint} "
                   "(`carpenter rules` lists them)", err=True)
        sys.exit(EXIT_ERROR)
    fixable = "yes" if rule.fixable else "no"
    click.echo(f"{rule.id} {rule.name}: {rule_summary(rule)}")
    click.echo(f"category: {rule.category}   severity: {rule.severity}   fixable: {fixable}")
    if rule.hadolint:
        click.echo(f"hadolint: {', '.join(rule.hadolint)}")
    click.echo(f"help: {help_uri(rule)}\n")
    click.echo(rule.doc().markdown())
    sys.exit(0)
