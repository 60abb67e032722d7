"""`carpenter scan`, `carpenter rules`, `carpenter explain`.

Exit codes: 0 nothing at or above --fail-on, 1 findings, 2 usage error or a file that could not
be read (every other file is still scanned and reported).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from carpenter.core.diagnostics import Diagnostic
from carpenter.core.errors import EXIT_ERROR, ConfigError
from carpenter.core.options import parse_build_args
from carpenter.core.redact import safe_text, stream_text
from carpenter.report.interface import OUTPUT_FORMATS, write_atomic
from carpenter.scan.config import FAIL_ON_CHOICES
from carpenter.scan.finding import CATEGORIES

if TYPE_CHECKING:  # pathlib only where a path needs it: a typical scan walks strings
    from pathlib import Path


def _split_keys(values: tuple[str, ...]) -> list[str]:
    """`--select A,B --select C` -> [A, B, C]."""
    return [key.strip() for value in values for key in value.split(",") if key.strip()]


def _config_start(paths: tuple[str, ...]) -> Path:
    """Where the search for .carpenter.toml / pyproject.toml begins: the first input's folder."""
    from pathlib import Path

    first = Path(paths[0]) if paths else Path.cwd()
    folder = first if first.is_dir() else first.parent
    return folder.resolve() if str(folder) else Path.cwd()


def check_rule_keys(config: Any) -> None:
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
        import difflib

        close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown rule, rule prefix or category {key!r}{hint}")


def _use_color(choice: str, output: str | None) -> bool:
    if choice == "always":
        return True
    if choice == "never" or output is not None or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def _missing_folders(paths: tuple[str, ...], files: list[str]) -> list[Diagnostic]:
    """A folder argument with no Dockerfile under it is an error, not a silent pass."""
    errors: list[Diagnostic] = []
    for path in paths:
        if not os.path.isdir(path):
            continue
        prefix = os.path.join(os.path.abspath(path), "")
        if not any(os.path.abspath(f).startswith(prefix) for f in files):
            errors.append(Diagnostic(path, None, "no Dockerfile found in this folder"))
    return errors


def _emit(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(output, stream_text(text))  # a report file is an output like stdout


# ---------------------------------------------------------------------------------------------
# carpenter scan


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--context", "context", type=click.Path(exists=True, file_okay=False),
              help="Build context folder (default: each Dockerfile's folder).")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=1, show_default=True,
              help="Parallel worker processes (0: one per CPU).")
@click.option("--output-format", "--format", "fmt", type=click.Choice(OUTPUT_FORMATS),
              default="text", show_default=True,
              help="concise: one line per finding; full/grouped/text: by file with code "
                   "frames; json, json-lines, sarif, github (annotations), gitlab (Code "
                   "Quality), junit, checkstyle.")
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Write the report to FILE (atomically) instead of stdout.")
@click.option("--select", multiple=True,
              help="Only these rules (ids, id prefixes, names, categories).")
@click.option("--extend-select", multiple=True, help="Add rules to the selection.")
@click.option("--ignore", multiple=True, help="Skip these rules.")
@click.option("--fail-on", type=click.Choice(FAIL_ON_CHOICES),
              help="Lowest severity that makes the exit code 1 (default: warning; none: never).")
@click.option("--exit-zero", is_flag=True,
              help="Exit 0 even with findings (2 still means a file could not be scanned).")
@click.option("--statistics", is_flag=True,
              help="Print the number of findings per rule instead of the findings.")
@click.option("--profile", help="Settings profile from carpenter/data/profiles/ "
              "(e.g. a competition).")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="Use this .carpenter.toml / pyproject.toml for every file instead of the "
                   "nearest one above each file.")
@click.option("--stdin-filename", help="With PATH `-`: the name the Dockerfile read from "
              "standard input is reported under (its folder is the build context).")
@click.option("--sarif-category", help="SARIF automationDetails.id (upload-sarif's category), "
              "so uploads from a matrix or from scan and rebuild do not replace each other.")
@click.option("--sarif-fixes/--no-sarif-fixes", default=True, show_default=True,
              help="Attach the edits `fix` would make to SARIF results (fixes[]).")
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
    fail_on: str | None, exit_zero: bool, statistics: bool, profile: str | None,
    config_file: str | None, stdin_filename: str | None, sarif_category: str | None,
    sarif_fixes: bool, build_args: tuple[str, ...], color: str, ignore_pragmas: bool,
    no_cache: bool, cache_dir: str | None,
) -> int:
    """Check Dockerfiles for unpinned dependencies, shell bugs, secrets and more.

    PATH is a Dockerfile or a folder searched recursively for Dockerfile, Dockerfile.*,
    *.Dockerfile and Containerfile (skipping .git, virtualenvs, node_modules); `-` reads one
    Dockerfile from standard input. Each file gets the settings of the nearest
    .carpenter.toml / pyproject.toml [tool.carpenter] above it.

    Exit status: 0 nothing at or above --fail-on, 1 findings, 2 usage error or unreadable file.
    """
    from carpenter.report.interface import get_reporter, summary_line
    from carpenter.scan.engine import ScanOptions

    settings = {
        "select": _split_keys(select),
        "extend-select": _split_keys(extend_select),
        "ignore": _split_keys(ignore),
        "fail-on": fail_on,
        "profile": profile,
        "ignore-pragmas": True if ignore_pragmas else None,
    }
    base = ScanOptions(
        context=context, build_args=parse_build_args(build_args),
        jobs=jobs or os.cpu_count() or 1,
        cache_dir=None if no_cache else cache_dir or _default_cache_dir(),
    )
    explicit = None
    if config_file:
        from pathlib import Path

        explicit = Path(config_file)
    if paths == ("-",):
        report, code = _scan_stdin(stdin_filename or "Dockerfile", settings, explicit, base)
    elif "-" in paths:
        raise ConfigError("`-` (standard input) must be the only PATH")
    else:
        report, code = _scan_per_config(paths, settings, explicit, base)
    width = _terminal_width() if sys.stdout.isatty() else 100
    options: dict[str, Any] = {"color": _use_color(color, output), "width": width}
    if fmt == "sarif":
        options["category"] = sarif_category
        if sarif_fixes and paths != ("-",):
            from carpenter.report.sarif import compute_fixes

            options["fixes"] = compute_fixes(report, base)
    text = _statistics(report) if statistics else get_reporter(fmt, **options).render(report)
    _emit(text, output)
    if fmt == "github" and os.environ.get("GITHUB_STEP_SUMMARY"):
        _append_step_summary(report, os.environ["GITHUB_STEP_SUMMARY"])
    if output is not None:
        cached = f"; {report.cached} from the result cache" if report.cached else ""
        click.echo(f"{summary_line(report)} (report: {output}{cached})", err=True)
    sys.exit(0 if exit_zero and code == 1 else code)


def _scan_per_config(paths: tuple[str, ...], settings: dict[str, Any], explicit: Path | None,
                     base: Any) -> tuple[Any, int]:
    """Scan each Dockerfile with the config of the nearest config file above it (ruff's
    discovery), one engine run per distinct config; exit code as the worst group's."""
    from dataclasses import replace

    from carpenter.scan.config import config_for_folder, resolve_config
    from carpenter.scan.engine import ScanReport, discover, scan_paths

    files, errors = discover(paths)
    named = {os.path.normpath(p) for p in paths if not os.path.isdir(p)}
    cache: dict[Path | None, Any] = {}
    groups: dict[str, tuple[Any, list[str]]] = {}
    for path in files:
        if explicit is not None:
            config = cache.setdefault(explicit, resolve_config(settings, config_file=explicit))
        else:
            # abspath, not resolve(): a Dockerfile that is a symlink loop is reported by the scan.
            config = config_for_folder(settings, os.path.dirname(os.path.abspath(path)), cache)
        # As in ruff, `exclude` drops files found in folders; a file named on the command
        # line is scanned (pre-commit passes files one by one: it has its own excludes).
        if os.path.normpath(path) not in named and config.excludes(path):
            continue
        config = config.for_file(path)
        groups.setdefault(repr(config), (config, []))[1].append(path)
    if not groups:
        config = resolve_config(settings, _config_start(paths), explicit)
        check_rule_keys(config)
        groups[""] = (config, [])
    merged = ScanReport(errors=list(errors), config=next(iter(groups.values()))[0])
    code = 0
    for config, group in groups.values():
        check_rule_keys(config)
        part = scan_paths(group, replace(base, config=config)) if group else ScanReport(
            config=config)
        merged.files.extend(part.files)
        merged.findings.extend(part.findings)
        merged.errors.extend(part.errors)
        merged.suppressed.extend(part.suppressed)
        merged.cached += part.cached
        code = max(code, 1 if part.failing() else 0)
    merged.findings.sort(key=lambda f: f.sort_key())
    merged.errors.extend(_missing_folders(paths, files))
    return merged, 2 if merged.errors else code


def _scan_stdin(name: str, settings: dict[str, Any], explicit: Path | None,
                base: Any) -> tuple[Any, int]:
    """Scan standard input as a Dockerfile named `name` (editors, `git show :Dockerfile |`):
    the text goes to a temporary file; findings are reported under `name`."""
    import tempfile
    from dataclasses import replace
    from pathlib import Path

    from carpenter.scan.config import config_for_folder, resolve_config
    from carpenter.scan.engine import scan_paths

    text = sys.stdin.read()
    folder = Path(name).resolve().parent
    config = (resolve_config(settings, config_file=explicit) if explicit
              else config_for_folder(settings, folder, {})).for_file(name)
    check_rule_keys(config)
    context = base.context or (str(folder) if folder.is_dir() else None)
    with tempfile.TemporaryDirectory(prefix="carpenter-stdin-") as tmp:
        temp = os.path.join(tmp, os.path.basename(name) or "Dockerfile")
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text)
        report = scan_paths([temp], replace(base, config=config, cache_dir=None,
                                            context=context or tmp))
    report.files = [name]
    report.findings = [replace(f, path=name) if f.path == temp else f for f in report.findings]
    report.errors = [replace(e, path=name) if e.path == temp else e for e in report.errors]
    return report, report.exit_code()


def _statistics(report: Any) -> str:
    """ruff's --statistics: one line per rule, most frequent first; [*] marks fixable."""
    from collections import Counter

    from carpenter.report.interface import summary_line

    counts = Counter(f.rule for f in report.findings)
    names = {f.rule: (f.name, f.fixable) for f in report.findings}
    lines = [f"{count:>5}  {rule:<7} {'[*]' if names[rule][1] else '   '} {names[rule][0]}"
             for rule, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def _default_cache_dir() -> str | None:
    from carpenter.core.resources import default_cache_dir

    return default_cache_dir()


def _terminal_width() -> int:
    import shutil  # shutil imports bz2 and lzma: only for a terminal

    return shutil.get_terminal_size((100, 24)).columns


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
        import difflib

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
