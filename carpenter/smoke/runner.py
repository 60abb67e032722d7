"""Run the smoke harness inside an image with the image's own Python and libraries."""

from __future__ import annotations

import contextlib
import json
import shutil
import stat
import tempfile
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from carpenter import containers
from carpenter.core.errors import CarpenterError, EngineError
from carpenter.core.redact import redact
from carpenter.smoke.containers import create_and_start
from carpenter.smoke.result import FAIL, PASS, Check, SmokeResult

HARNESS_DIR = Path(__file__).resolve().parent / "harness"
HARNESS_SCRIPT = "smoke_harness.py"
RESULT_MARKER = "CARPENTER_SMOKE_RESULT "
HARNESS_MOUNT = "/carpenter-harness"
WORK_MOUNT = "/carpenter-work"
# The image's own interpreter: python3 first (python may be Python 2 in old images).
FIND_PYTHON = (
    'for p in python3 python; do command -v "$p" >/dev/null 2>&1 && exec "$p" "$@"; done; '
    'echo "carpenter: no python3 or python on PATH" >&2; exit 127'
)
LOG_TAIL_LINES = 30


@dataclass
class SmokeOptions:
    gpu: str = "auto"  # auto | none | all
    timeout: float = 600.0  # seconds for the harness run; also the server readiness deadline
    server: bool = False
    contract: str = "neurips-2023"
    mem_limit: str = "4g"
    # Memory (bytes, swap included) of the submission's own server or training container.
    own_memory: int = 8 * 2**30
    steps: int = 20
    seed: int = 0
    harness: bool = True
    # The submission's own server (smoke.own_code): hub ids to serve with tiny stand-ins,
    # adapters (id -> base id), variables and secrets for it, the budget probe and track.
    models: tuple[str, ...] = ()
    adapters: tuple[tuple[str, str], ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    secrets: tuple[Any, ...] = ()
    tiny: bool = True
    budget_requests: int | None = None
    track: str | None = None
    # No tiny stand-ins and network allowed: the real verdict on a GPU machine.
    real_weights: bool = False
    # The submission's folder: hub ids its scan and Python files name get stand-ins up front.
    context: str | None = None
    # The submission's own training entry point (smoke.training): the image's CMD or train_cmd.
    train: bool = False
    train_cmd: str | None = None
    train_steps: int = 2
    dataset: str | None = None


def harness_env(gpu_attached: bool) -> dict[str, str]:
    env = {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HOME": f"{WORK_MOUNT}/hf",
        "XDG_CACHE_HOME": f"{WORK_MOUNT}/cache",
        "TMPDIR": WORK_MOUNT,
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    }
    if not gpu_attached:
        # Two torch threads on two busy cores made 20 steps take 3.5-30 s instead of < 1 s.
        env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    return env


def copy_harness() -> Path:
    """A private, world-readable copy to bind-mount: the image may run as a non-root user."""
    tmp = Path(tempfile.mkdtemp(prefix="carpenter-harness-"))
    for item in HARNESS_DIR.glob("*.py"):
        shutil.copy2(item, tmp / item.name)
        (tmp / item.name).chmod(0o644)
    tmp.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return tmp


def harness_command(options: SmokeOptions, device: str) -> list[str]:
    return ["-B", f"{HARNESS_MOUNT}/{HARNESS_SCRIPT}", "--device", device,
            "--steps", str(options.steps), "--seed", str(options.seed),
            "--workdir", f"{WORK_MOUNT}/run"]


def run_harness(client, image: str, options: SmokeOptions, result: SmokeResult) -> None:
    """Start the harness container, wait with a wall clock, parse its result, remove it."""
    harness = copy_harness()
    container = None
    try:
        started = time.monotonic()
        # With GPUs requested the harness picks CUDA when torch sees it; --gpu all insists.
        device = {"none": "cpu", "auto": "auto", "all": "cuda"}[options.gpu]
        gpu_kwargs = container_kwargs(options, harness, device, gpu_attached=options.gpu != "none")
        cpu_kwargs = container_kwargs(options, harness, "cpu", gpu_attached=False)
        container, result.gpu_fallback = create_and_start(
            client, image, options.gpu, gpu_kwargs, cpu_kwargs)
        result.timings["container_start"] = round(time.monotonic() - started, 3)
        wait_and_collect(container, options, result, started)
        if options.gpu == "auto" and result.gpu_fallback is None:
            check_gpu_visible(result)
    finally:
        if container is not None:
            containers.remove_quietly(container)
        shutil.rmtree(harness, ignore_errors=True)


def container_kwargs(options: SmokeOptions, harness: Path, device: str,
                     gpu_attached: bool) -> dict[str, Any]:
    return {
        "command": harness_command(options, device),
        "entrypoint": ["/bin/sh", "-c", FIND_PYTHON, "carpenter-smoke"],
        "network_mode": "none",
        "mem_limit": options.mem_limit,
        "memswap_limit": options.mem_limit,
        "environment": harness_env(gpu_attached),
        "volumes": {str(harness): {"bind": HARNESS_MOUNT, "mode": "ro"}},
        # No working_dir here: engine 20.10 resets a tmpfs used as workdir to 0755 root.
        "tmpfs": {WORK_MOUNT: "rw,exec,size=1g,mode=1777"},
        "labels": containers.labels(uuid.uuid4().hex[:12]),
    }


def wait_and_collect(container, options: SmokeOptions, result: SmokeResult,
                     started: float) -> None:
    import requests

    remaining = max(1.0, options.timeout - (time.monotonic() - started))
    timed_out = False
    try:
        container.wait(timeout=remaining)
    except (requests.exceptions.RequestException, OSError):
        # docker 7.x raises ConnectionError wrapping ReadTimeoutError here (docker-py#1966).
        timed_out = True
        with contextlib.suppress(Exception):
            container.kill()
    result.timings["container_wall"] = round(time.monotonic() - started, 3)
    container.reload()
    state = container.attrs.get("State") or {}
    stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
    stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
    result.log_tail = redact("\n".join(stderr.splitlines()[-LOG_TAIL_LINES:]))
    data = parse_result(stdout)
    if data is not None:
        apply_harness_data(result, data)
    if timed_out:
        result.status = "failed"
        result.checks.append(Check("harness finished", FAIL,
                                   f"timed out after {options.timeout:g} s (--timeout)"))
    elif data is None:
        result.status = "failed"
        result.checks.append(Check("harness finished", FAIL, no_result_reason(state, stderr,
                                                                             options)))


def no_result_reason(state: dict[str, Any], stderr: str, options: SmokeOptions) -> str:
    code = state.get("ExitCode")
    if state.get("OOMKilled"):
        return f"harness killed: out of memory (limit {options.mem_limit})"
    if code == 127 and "no python3 or python" in stderr:
        return "image lacks python (no python3 or python on PATH)"
    if code in (126, 127) or "exec format error" in stderr:
        return f"cannot start the harness (exit {code}): image lacks a usable /bin/sh or python"
    last = stderr.strip().splitlines()[-1:] or ["no output"]
    return f"harness produced no result (exit {code}): {redact(last[0])[:300]}"


def parse_result(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            try:
                data = json.loads(line[len(RESULT_MARKER):])
            except json.JSONDecodeError:
                return None
            return data if isinstance(data, dict) else None
    return None


def apply_harness_data(result: SmokeResult, data: dict[str, Any]) -> None:
    result.status = {"passed": "passed", "failed": "failed",
                     "missing-library": "failed"}.get(data.get("status", ""), "failed")
    result.versions = data.get("versions") or {}
    result.device = data.get("device")
    result.tokenizer = data.get("tokenizer")
    result.trainable_params = data.get("trainable_params")
    result.losses = list(data.get("losses") or [])
    result.missing = list(data.get("missing") or [])
    result.peak_rss_mb = data.get("peak_rss_mb")
    for item in data.get("checks") or []:
        result.checks.append(Check(str(item.get("name")), str(item.get("status")),
                                   redact(str(item.get("detail", ""))), item.get("value")))
    for phase, seconds in (data.get("timings") or {}).items():
        result.timings["harness_" + phase if phase == "total" else phase] = seconds


def check_gpu_visible(result: SmokeResult) -> None:
    """A GPU was attached: a torch that cannot see it is the CPU-wheel / CUDA-mismatch failure."""
    versions = result.versions
    if not versions.get("torch") or versions.get("torch") == "broken":
        return
    if versions.get("cuda_available"):
        result.checks.append(Check("torch sees the GPU", PASS, result.device or "cuda"))
        return
    built = versions.get("cuda")
    reason = (f"torch {versions['torch']} is a CPU-only build" if not built else
              f"torch {versions['torch']} (built for CUDA {built}) cannot use the driver")
    result.checks.append(Check("torch sees the GPU", FAIL,
                               f"a GPU is attached but {reason}; the harness ran on CPU"))
    result.status = "failed"


def with_context_ids(options: SmokeOptions, result: SmokeResult) -> SmokeOptions:
    """Add the hub ids the submission's folder names, so stand-ins are there from the start."""
    if not options.context or not options.tiny or options.real_weights:
        return options
    if not (options.server or options.train):
        return options
    from carpenter.smoke.hub_ids import context_ids

    found = [repo for repo in context_ids(options.context) if repo not in options.models]
    if not found:
        return options
    result.context_ids = found
    return replace(options, models=(*options.models, *found))


def smoke(image: str, options: SmokeOptions, client=None) -> SmokeResult:
    """The stage's entry point: harness run, then (optionally) the server contract check."""
    client = client or containers.connect(objects=True)
    image_obj = containers.get_image(client, image)
    containers.sweep(client)
    result = SmokeResult(image=image, image_id=image_obj.id, gpu_requested=options.gpu)
    started = time.monotonic()
    try:
        if options.harness:
            run_harness(client, image, options, result)
        else:
            result.status = "passed"  # nothing of the harness ran: only the server decides
        options = with_context_ids(options, result)
        if options.server:
            from carpenter.smoke.own_code import check_own_server

            result.server = check_own_server(client, image, options, result)
        if options.train:
            from carpenter.smoke.training import check_own_training

            result.train = check_own_training(client, image, options, result)
    except CarpenterError:
        raise
    except Exception as exc:  # the engine went away or refused mid-run (docker/requests errors)
        if containers.is_engine_failure(exc):
            raise EngineError(f"the Docker engine failed during the smoke: {exc}") from exc
        raise
    result.timings["total"] = round(time.monotonic() - started, 3)
    return result
