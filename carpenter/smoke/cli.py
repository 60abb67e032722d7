"""`carpenter smoke IMAGE`: a tiny LoRA fine-tune (and the server contract) inside a built image."""

from __future__ import annotations

import click

from carpenter.core.errors import EXIT_FINDINGS, EXIT_OK

PROFILES = ("neurips-2023",)


@click.command("smoke")
@click.argument("image")
@click.option("--gpu", type=click.Choice(["auto", "none", "all"]), default="auto",
              show_default=True,
              help="auto: request GPUs, fall back to CPU when the engine has none; "
                   "all: require them; none: CPU only.")
@click.option("--timeout", type=click.FloatRange(min=1), default=600, show_default=True,
              help="Seconds for the harness run, and for the server to become ready.")
@click.option("--server/--no-server", default=None,
              help="Also start the image's CMD and check the inference contract "
                   "(default: on under --profile neurips-2023).")
@click.option("--profile", type=click.Choice(PROFILES), default=None,
              help="Competition profile: picks the server contract.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
def smoke(ctx: click.Context, image: str, gpu: str, timeout: float, server: bool | None,
          profile: str | None, fmt: str) -> None:
    """Fine-tune a tiny model with LoRA inside IMAGE using the image's own libraries.

    Exit 0 when every check passes, 1 when a check fails (a missing library included),
    2 when the smoke could not run (no engine, no such image).
    """
    from carpenter.report.interface import render
    from carpenter.smoke.runner import SmokeOptions
    from carpenter.smoke.runner import smoke as run_smoke

    if server is None:
        server = profile == "neurips-2023"
    options = SmokeOptions(gpu=gpu, timeout=timeout, server=server,
                           contract=profile or "neurips-2023")
    result = run_smoke(image, options)
    click.echo(render(result, fmt).stdout, nl=False)
    ctx.exit(EXIT_OK if result.passed else EXIT_FINDINGS)
