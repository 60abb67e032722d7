"""The `carpenter` command: a thin click group; each stage owns its subcommand module.

Subcommands are imported lazily so `carpenter --help` stays fast and a broken optional
dependency of one stage cannot break the others.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from carpenter import __version__
from carpenter.core.errors import EXIT_ERROR, CarpenterError
from carpenter.core.redact import redacted_std_streams

# name -> "module:attribute"; one line per subcommand, owned by its stage package.
COMMANDS: dict[str, str] = {
    "scan": "carpenter.scan.cli:scan",
    "rules": "carpenter.scan.cli:rules",
    "explain": "carpenter.scan.cli:explain",
    "fix": "carpenter.fix.cli:fix",
    "snapshot": "carpenter.snapshot.cli:snapshot",
    "rebuild": "carpenter.rebuild.cli:rebuild",
    "smoke": "carpenter.smoke.cli:smoke",
    "check": "carpenter.pipeline.cli:check",
    "batch": "carpenter.batch.cli:batch",
    "server": "carpenter.daemon:server",
}

HELP = {
    "scan": "Find unpinned dependencies, host-local files, CUDA builds and leaked secrets.",
    "rules": "List every rule.",
    "explain": "Show the documentation of one rule.",
    "fix": "Pin what scan found against a snapshot and show the diff.",
    "snapshot": "Create, show and compare lockfile snapshots.",
    "rebuild": "Build a submission on a real Docker engine under limits.",
    "smoke": "Fine-tune and serve a tiny model inside a built image.",
    "check": "Scan, fix, rebuild and smoke one submission: one verdict.",
    "batch": "Check many submissions (folder or manifest), resumable; HTML report.",
    "server": "Start, stop or show a warmed-up process that makes each `scan` start fast.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise CarpenterError(f"command {name!r} is unavailable: {exc}") from exc
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help comes from a table so --help imports no stage module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, HELP.get(name, "")) for name in COMMANDS])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="carpenter")
def cli() -> None:
    """Carpenter: make ML-competition submissions reproducible.

    Pipeline: scan -> fix -> rebuild -> smoke.
    """


def main(argv: list[str] | None = None) -> None:
    # The one redaction point for the terminal: every byte a command prints, whichever module
    # prints it, passes through it (files are masked where they are written).
    with redacted_std_streams():
        _main(argv)


def _main(argv: list[str] | None) -> None:
    try:
        rv = cli.main(args=argv, prog_name="carpenter", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_ERROR)
    except click.exceptions.Abort:
        click.echo("carpenter: aborted", err=True)
        sys.exit(130)
    except CarpenterError as exc:
        click.echo(f"carpenter: error: {exc.located()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("carpenter: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # last resort: a readable line instead of a traceback
        if os.environ.get("CARPENTER_DEBUG"):
            raise
        click.echo(
            f"carpenter: internal error: {type(exc).__name__}: {exc} "
            "(set CARPENTER_DEBUG=1 for a traceback)",
            err=True,
        )
        sys.exit(3)
    # Subcommands end with sys.exit(code); a plain return means success.
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
