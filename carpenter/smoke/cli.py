"""`carpenter smoke IMAGE`: a tiny LoRA fine-tune (and the server contract) inside a built image."""

from __future__ import annotations

import click

from carpenter.core.errors import EXIT_FINDINGS, EXIT_OK, ConfigError

PROFILES = ("neurips-2023",)
# Docker refuses a memory limit under 6 MiB; say so before starting anything.
MIN_MEMORY = 6 * 2**20


def container_memory(size: int) -> int:
    if size < MIN_MEMORY:
        raise ConfigError(f"--memory {size} bytes: at least 6m (the engine's minimum)")
    return size


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
@click.option("--harness/--no-harness", default=True, show_default=True,
              help="Run the generic LoRA harness (--no-harness: only the server check).")
@click.option("--model", "models", multiple=True, metavar="ORG/NAME",
              help="Hub id the server loads: served offline by a tiny random-weight model of "
                   "the same architecture (repeatable).")
@click.option("--adapter", "adapters", multiple=True, metavar="ORG/NAME[=BASE]",
              help="LoRA adapter id the server loads (PeftModel.from_pretrained); BASE "
                   "defaults to the first --model.")
@click.option("--no-tiny-model", "no_tiny", is_flag=True,
              help="Never substitute tiny models (the server must bring its own weights).")
@click.option("--env", "envs", multiple=True, metavar="K=V",
              help="Variable for the server (bare K: take this shell's value).")
@click.option("--secret", "secrets", multiple=True, metavar="id=NAME,env=VAR|src=FILE",
              help="Secret given to the server as variable NAME; never printed.")
@click.option("--memory", default="8g", show_default=True, metavar="SIZE",
              help="Memory (swap included) of the server or training container, e.g. 300m or "
                   "16g: a start-up over it fails as out-of-memory.")
@click.option("--budget-requests", type=click.IntRange(min=0), default=None,
              help="HELM-shaped requests timed for the budget verdict (default: the "
                   "contract's; 0: skip).")
@click.option("--track", type=click.Choice(["4090", "A100"]), default=None,
              help="Competition track whose GPU memory limit the result compares with.")
@click.option("--train", is_flag=True,
              help="Run the image's own training entry point (its CMD, or --train-cmd) on tiny "
                   "stand-ins and a tiny dataset, capped by steps and --timeout.")
@click.option("--train-cmd", default=None, metavar="CMD",
              help="Training command instead of the CMD, run with /bin/sh -c (implies --train).")
@click.option("--train-steps", type=click.IntRange(min=1), default=2, show_default=True,
              help="MAX_STEPS and the other step caps the training run gets.")
@click.option("--dataset", type=click.Path(exists=True), default=None,
              help="Your own small dataset (file or HF-datasets folder) for --train instead of "
                   "the built-in 8 rows.")
@click.option("--context", type=click.Path(exists=True, file_okay=False), default=None,
              help="The submission's folder: hub ids its Dockerfile and Python files load get "
                   "tiny stand-ins up front.")
@click.option("--real-weights", is_flag=True,
              help="No tiny stand-ins, network allowed: the real verdict on the target GPU.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
def smoke(ctx: click.Context, image: str, gpu: str, timeout: float, server: bool | None,
          profile: str | None, harness: bool, models: tuple[str, ...],
          adapters: tuple[str, ...], no_tiny: bool, envs: tuple[str, ...],
          secrets: tuple[str, ...], memory: str, budget_requests: int | None, track: str | None,
          train: bool, train_cmd: str | None, train_steps: int, dataset: str | None,
          context: str | None, real_weights: bool, fmt: str) -> None:
    """Fine-tune a tiny model with LoRA inside IMAGE using the image's own libraries.

    Exit 0 when every check passes, 1 when a check fails (a missing library included),
    2 when the smoke could not run (no engine, no such image).
    """
    from carpenter.core.options import parse_build_args, parse_secret, parse_size
    from carpenter.report.interface import render
    from carpenter.smoke.own_code import parse_adapter
    from carpenter.smoke.runner import SmokeOptions
    from carpenter.smoke.runner import smoke as run_smoke
    from carpenter.smoke.tinymodel import check_repo_id

    train = train or bool(train_cmd)
    if server is None:
        server = not train and (profile == "neurips-2023"
                                or bool(models or adapters or envs or secrets))
    models = tuple(check_repo_id(m) for m in models)
    options = SmokeOptions(gpu=gpu, timeout=timeout, server=server,
                           contract=profile or "neurips-2023", harness=harness, models=models,
                           adapters=tuple(parse_adapter(a, models) for a in adapters),
                           env=parse_build_args(envs, option="--env"),
                           secrets=tuple(parse_secret(s) for s in secrets), tiny=not no_tiny,
                           budget_requests=budget_requests, track=track,
                           own_memory=container_memory(parse_size(memory)),
                           real_weights=real_weights, context=context, train=train,
                           train_cmd=train_cmd, train_steps=train_steps, dataset=dataset)
    result = run_smoke(image, options)
    click.echo(render(result, fmt).stdout, nl=False)
    ctx.exit(EXIT_OK if result.passed else EXIT_FINDINGS)
