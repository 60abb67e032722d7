"""Run the submission's own training entry point on tiny stand-ins and a tiny dataset.

The 2023 round-2 rule: the finalists' training image (its CMD, or `--train-cmd`) had to re-create
their weights on one GPU. Off the target machine we can still prove the code path: the hub ids it
loads are served by tiny random-weight models (the server's HF cache mount, tinymodel.py), a tiny
dataset is mounted where the usual variables point, the usual step caps are set, and a wall-clock
cap stops a script that ignores them. How far it got is read from its log and exit state:
`model-load`, `first-step`, `finished`, or a failure class with its evidence line (failures.py).
"""

from __future__ import annotations

import contextlib
import csv
import json
import shlex
import shutil
import tempfile
import time
import tomllib
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from carpenter import containers
from carpenter.core.errors import ConfigError
from carpenter.core.redact import redact
from carpenter.core.resources import data_dir
from carpenter.smoke import budget, failures, tinymodel
from carpenter.smoke.containers import create_and_start
from carpenter.smoke.result import SKIP, Check, SmokeResult, TrainResult

STAGES = ("not-started", "model-load", "first-step", "finished")
POLL_S = 1.0
STATS_EVERY_S = 3.0
# Progress lines may be anywhere in a long log: read its head (model load) and its tail.
HEAD_LINES, TAIL_LINES = 300, 3000
LOG_TAIL_LINES = 30
# Rows of the tiny dataset: the fields 2023 scripts read (Alpaca, plain text, prompt/response).
SENTENCES = ("the cat sat on the mat", "a dog ran in the park", "the sun is warm today",
             "birds sing in the morning", "rain falls on the roof", "a child reads a book",
             "the river flows to the sea", "stars shine at night")


@dataclass(frozen=True)
class TrainingTable:
    mount: str
    file: str
    rows: int
    variables: tuple[tuple[str, str], ...]  # (name, "file" | "dir")
    caps: dict[str, str]
    quiet: dict[str, str]
    progress: dict[str, tuple[str, ...]]

    def progress_patterns(self) -> list[tuple[str, Any]]:
        import re

        return [(stage, re.compile(p)) for stage in ("first-step", "model-load")
                for p in self.progress.get(stage, ())]


@cache
def load_table(path: Path | None = None) -> TrainingTable:
    import re

    path = path or data_dir() / "smoke" / "training.toml"
    try:
        data = tomllib.loads(path.read_text())
        dataset, caps = data["dataset"], data["caps"]
        variables = tuple((v["name"], v["points_at"]) for v in dataset["variables"])
        if any(kind not in ("file", "dir") for _, kind in variables):
            raise ValueError("points_at must be file or dir")
        progress = {k: tuple(v) for k, v in data["progress"].items()}
        for patterns in progress.values():
            for pattern in patterns:
                re.compile(pattern)
        return TrainingTable(dataset["mount"], dataset["file"], int(dataset["rows"]), variables,
                             {k: str(v) for k, v in caps["variables"].items()},
                             {k: str(v) for k, v in caps["quiet"].items()}, progress)
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, re.error) as exc:
        raise ConfigError(f"malformed training table: {exc}", path=str(path)) from exc


def write_dataset(folder: Path, rows: int) -> None:
    """train.jsonl, data.jsonl and train.csv with the same rows, world-readable."""
    records = []
    for index in range(rows):
        sentence = SENTENCES[index % len(SENTENCES)]
        head, _, tail = sentence.rpartition(" ")
        records.append({"instruction": f"Finish the sentence: {head}", "input": "",
                        "output": tail, "text": sentence, "prompt": head, "response": tail})
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (folder / "train.jsonl").write_text(lines)
    (folder / "data.jsonl").write_text(lines)
    with (folder / "train.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    for item in folder.iterdir():
        item.chmod(0o644)
    folder.chmod(0o755)


def train_env(table: TrainingTable, steps: int, dataset: Path | None) -> dict[str, str]:
    """Caps, quiet trackers and the dataset variables; a user's own --dataset is a file or dir."""
    env = {k: v.replace("{steps}", str(steps)) for k, v in table.caps.items()}
    env.update(table.quiet)
    if dataset is not None and dataset.is_file():
        file_path, dir_path = f"{table.mount}/{dataset.name}", table.mount
    elif dataset is not None:
        file_path = dir_path = table.mount  # an HF-datasets folder: both names point at it
    else:
        file_path, dir_path = f"{table.mount}/{table.file}", table.mount
    for name, kind in table.variables:
        env[name] = file_path if kind == "file" else dir_path
    return env


def progress(log: str, table: TrainingTable) -> tuple[str, dict[str, str], int]:
    """The furthest stage a log line proves, the first line proving each stage, step lines."""
    evidence: dict[str, str] = {}
    steps = 0
    patterns = table.progress_patterns()
    for line in log.splitlines():
        stages = {stage for stage, pattern in patterns if pattern.search(line)}
        steps += "first-step" in stages
        for stage in stages:
            evidence.setdefault(stage, redact(line.strip())[:200])
    stage = "first-step" if "first-step" in evidence else (
        "model-load" if "model-load" in evidence else "not-started")
    return stage, dict(sorted(evidence.items(), key=lambda kv: STAGES.index(kv[0]))), steps


def judge(out: TrainResult, log: str, exit_code: int | None, oom: bool, timed_out: bool,
          cap_s: float, table: TrainingTable) -> None:
    """Stage, checks and failure class from the log and the process state."""
    out.stage, out.evidence, out.steps_logged = progress(log, table)
    out.exit_code = exit_code
    if not timed_out and exit_code == 0 and not oom:
        out.stage = "finished"
        out.add("training finished", True, f"exited 0 after {out.wall_s or 0:g} s, "
                                           f"{out.steps_logged} step line(s) in its log")
        if "first-step" not in out.evidence:
            out.checks.append(Check("first optimizer step in the log", SKIP,
                                    "no step/loss line seen: the log does not show a step"))
        return
    if timed_out and out.stage == "first-step":
        out.stopped_by_cap = True
        out.add("training reached its first step", True,
                f"stopped by the {cap_s:g} s wall-clock cap after its first step (it does not "
                "read the step caps carpenter sets)")
        return
    found = (failures.classify_timeout(log, cap_s) if timed_out
             else failures.classify_exit(log, exit_code, oom))
    out.failure = {"class": found.name, "evidence": found.evidence, "hint": found.hint}
    where = "before its first step" if out.stage != "first-step" else "after its first step"
    how = f"stopped by the {cap_s:g} s wall-clock cap" if timed_out else f"exited {exit_code}"
    out.add("training finished", False, f"{how} {where} ({found.name}: {found.evidence})")


def read_log(container) -> str:
    try:
        text = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
    except Exception:
        return ""
    lines = text.splitlines()
    if len(lines) > HEAD_LINES + TAIL_LINES:
        lines = [*lines[:HEAD_LINES], "[...]", *lines[-TAIL_LINES:]]
    return redact("\n".join(lines))


def wait_sampling(container, cap_s: float) -> tuple[bool, int | None]:
    """Wait for exit or the cap; the highest memory sample (cgroup v2 has no peak counter)."""
    deadline = time.monotonic() + cap_s
    peak, last_stats = None, 0.0
    while time.monotonic() < deadline:
        container.reload()
        if container.status in ("exited", "dead"):
            return False, peak
        if time.monotonic() - last_stats >= STATS_EVERY_S:
            last_stats = time.monotonic()
            sample = budget.peak_memory(container)
            peak = max(peak or 0, sample or 0) or None
        time.sleep(POLL_S)
    with contextlib.suppress(Exception):
        container.kill()
    return True, peak


def command_kwargs(train_cmd: str | None) -> tuple[dict[str, Any], list[str]]:
    """`--train-cmd` runs under /bin/sh -c (so `bash train.sh && ...` works); else the CMD."""
    if not train_cmd:
        return {}, []
    return {"entrypoint": ["/bin/sh", "-c"], "command": [train_cmd]}, shlex.split(train_cmd)


def run_once(client, image: str, options, models: list[str], adapters: dict[str, str],
             secrets_env: dict[str, str]) -> tuple[TrainResult, str, tinymodel.TinyCache]:
    table = load_table()
    tiny = (tinymodel.prepare(client, image, models, adapters)
            if options.tiny and not options.real_weights else tinymodel.TinyCache())
    data_dir_tmp = None
    container = None
    out = TrainResult()
    try:
        dataset = Path(options.dataset).resolve() if options.dataset else None
        if dataset is None:
            data_dir_tmp = Path(tempfile.mkdtemp(prefix="carpenter-data-"))
            write_dataset(data_dir_tmp, table.rows)
        source = dataset if dataset is not None and dataset.is_dir() else (
            dataset.parent if dataset is not None else data_dir_tmp)
        env = {**train_env(table, options.train_steps, dataset), **tiny.env(),
               **dict(options.env), **secrets_env}
        cmd_kwargs, out.command = command_kwargs(options.train_cmd)
        kwargs = {"environment": env, "mem_limit": options.own_memory,
                  "memswap_limit": options.own_memory,
                  "network_mode": "bridge" if options.real_weights else "none",
                  "volumes": {**tiny.volumes(), str(source): {"bind": table.mount, "mode": "ro"}},
                  "labels": containers.labels(uuid.uuid4().hex[:12]), **cmd_kwargs}
        started = time.monotonic()
        container, _ = create_and_start(client, image, options.gpu, kwargs)
        if not out.command:
            container.reload()
            config = container.attrs.get("Config") or {}
            out.command = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
        timed_out, peak = wait_sampling(container, options.timeout)
        out.wall_s = round(time.monotonic() - started, 2)
        out.peak_memory_mb = round(peak / 2**20, 1) if peak else None
        container.reload()
        state = container.attrs.get("State") or {}
        log = read_log(container)
        judge(out, log, None if timed_out else state.get("ExitCode"),
              bool(state.get("OOMKilled")), timed_out, options.timeout, table)
        if out.failure:
            out.log_tail = "\n".join(log.splitlines()[-LOG_TAIL_LINES:])
        return out, log, tiny
    finally:
        if container is not None:
            containers.remove_quietly(container)
        if data_dir_tmp is not None:
            shutil.rmtree(data_dir_tmp, ignore_errors=True)
        tiny.cleanup()


def check_own_training(client, image: str, options, result: SmokeResult) -> TrainResult:
    """Run the entry point; when it fails offline naming a hub id nobody passed, retry once."""
    from carpenter.smoke.own_code import ids_in_log, secret_value

    secrets_env = {s.id: secret_value(s) for s in options.secrets}
    models = list(dict.fromkeys(options.models))
    adapters = dict(options.adapters)
    out, log, tiny = run_once(client, image, options, models, adapters, secrets_env)
    retry = (ids_in_log(log, models, adapters)
             if options.tiny and not options.real_weights and out.failure
             and out.failure["class"] in ("network", "model-load") else [])
    if retry:
        first = out.failure or {}
        out, log, tiny = run_once(client, image, options, models + retry, adapters, secrets_env)
        out.notes.insert(0, f"first attempt failed ({first.get('class')}: "
                            f"{first.get('evidence', '')}); retried with tiny stand-ins for "
                            f"{', '.join(retry)} named in its log")
    describe(out, tiny, options)
    return out


def describe(out: TrainResult, tiny: tinymodel.TinyCache, options) -> None:
    out.substituted = list(tiny.substituted)
    out.notes += tiny.notes
    if options.real_weights:
        out.notes.insert(0, "real weights: no tiny stand-ins, network allowed (the real verdict "
                            "on the target GPU)")
    elif tiny.substituted:
        names = ", ".join(s["repo"] for s in tiny.substituted)
        out.notes.insert(0, f"weights substituted: {names} are tiny random-weight stand-ins; "
                            "this proves the training code path, not the training itself")
    what = (f"--dataset {Path(options.dataset).name}" if options.dataset
            else "a tiny 8-row dataset (train.jsonl, data.jsonl, train.csv)")
    out.notes.append(f"data: {what}; step caps MAX_STEPS={options.train_steps} and friends; "
                     f"wall-clock cap {options.timeout:g} s")
