"""Inference budget and memory verdicts for `smoke --server`.

Budget: send a few /process requests shaped like the evaluation's (data in the contract file),
measure latency, extrapolate to each stage ("600 requests at 3.1 s each: 31 min of the
300-minute budget"). On CPU with tiny stand-in weights this times the submission's code path
only (tokenisation, generation loop, per-token logprobs, sleeps), not the real model.

Memory: peak container memory from the engine's cgroup stats, against the organizers' host RAM;
GPU memory is only measured on a GPU (bench/gpu_smoke.sh), compared with the track's limit.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any

from carpenter.core.errors import ConfigError
from carpenter.core.resources import data_dir

# Ordinary words (the tiny tokenizer was trained on them: ~1-2 tokens per word, like real BPEs).
TEXT = "the capital of france is paris . the cat sat on the mat . a dog ran to the park ."
TRACKS = ("4090", "A100")


@dataclass
class BudgetSpec:
    probe_requests: int
    stages: list[dict[str, Any]]
    requests: list[dict[str, Any]]
    tracks: dict[str, Any] = field(default_factory=dict)


def load_budget(contract: str) -> BudgetSpec:
    path = data_dir() / "contracts" / f"{contract}.toml"
    try:
        data = tomllib.loads(path.read_text())
        budget = data["budget"]
        spec = BudgetSpec(int(budget.get("probe_requests", 5)), list(budget["stages"]),
                          list(budget["requests"]), dict(data.get("tracks", {})))
        for stage in spec.stages:
            int(stage["requests"]), float(stage["minutes"]), str(stage["name"])
        return spec
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"malformed budget in contract {contract!r}: {exc}",
                          path=str(path)) from exc


def prompt_of(words: int) -> str:
    vocab = TEXT.split()
    return " ".join(vocab[i % len(vocab)] for i in range(max(1, words)))


def request_bodies(spec: BudgetSpec, base: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """`count` bodies cycling through the evaluation's shapes, over the contract's full body."""
    bodies = []
    for i in range(count):
        shape = dict(spec.requests[i % len(spec.requests)])
        words = int(shape.pop("prompt_words", 32))
        bodies.append({**base, **shape, "prompt": prompt_of(words)})
    return bodies


def minutes(seconds: float) -> str:
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.1f} s"


def stage_verdicts(spec: BudgetSpec, mean_s: float) -> list[tuple[str, bool, str]]:
    """(stage, within budget, sentence) per stage of the evaluation."""
    out = []
    for stage in spec.stages:
        need = int(stage["requests"]) * mean_s
        limit = float(stage["minutes"]) * 60
        n = f"{int(stage['requests']):,}"
        if need <= limit:
            text = (f"{n} requests at {mean_s:.3g} s each: {minutes(need)} of the "
                    f"{float(stage['minutes']):g}-minute budget")
        else:
            text = (f"too slow: {n} requests need {minutes(need)} of a {minutes(limit)} budget "
                    f"({mean_s:.3g} s per request; at most {limit / int(stage['requests']):.3g} s)")
        out.append((str(stage["name"]), need <= limit, text))
    return out


def memory_verdict(peak_bytes: int | None, spec: BudgetSpec, track: str | None,
                   gpu_peak_bytes: int | None = None) -> list[tuple[str, str, str]]:
    """(check name, status pass|fail|skip, detail) for host and GPU memory."""
    checks = []
    host_gb = float(spec.tracks.get("host_memory_gb", 0) or 0)
    if peak_bytes is None:
        checks.append(("peak memory", "skip", "the engine reported no memory statistics"))
    else:
        gb = peak_bytes / 1e9
        ok = not host_gb or gb <= host_gb
        limit = f" of the organizers' {host_gb:g} GB host" if host_gb else ""
        checks.append(("peak memory", "pass" if ok else "fail",
                       f"container peak {peak_bytes / 2**20:.0f} MiB{limit}"))
    if track:
        info = spec.tracks.get(track) or {}
        limit_gb = float(info.get("gpu_memory_gb", 0) or 0)
        if gpu_peak_bytes is None:
            checks.append((f"GPU memory ({track} track)", "skip",
                           f"not measured (no GPU in this run); the {info.get('gpu', track)} has "
                           f"{limit_gb:g} GB: run bench/gpu_smoke.sh on a GPU machine"))
        else:
            gb = gpu_peak_bytes / 1e9
            status = "pass" if gb <= limit_gb else "fail"
            checks.append((f"GPU memory ({track} track)", status,
                           f"peak {gb:.1f} GB of {limit_gb:g} GB ({limit_gb - gb:+.1f} GB "
                           "headroom)"))
    return checks


def peak_memory(container) -> int | None:
    """The container's peak memory. cgroup v1 stats carry it (max_usage); under cgroup v2 the
    engine reports only the current usage, so the peak is read from the container's own
    `memory.peak` (kernel 5.19+), and the current usage is the last resort."""
    try:
        stats = container.stats(stream=False)
    except Exception:
        return None
    memory = (stats or {}).get("memory_stats") or {}
    if memory.get("max_usage"):
        return int(memory["max_usage"])
    peak = _cgroup_v2_peak(container)
    if peak:
        return peak
    return int(memory["usage"]) if memory.get("usage") else None


def _cgroup_v2_peak(container) -> int | None:
    try:
        code, out = container.exec_run(["cat", "/sys/fs/cgroup/memory.peak"])
    except Exception:  # the server already exited, or the image has no `cat`
        return None
    text = out.decode("ascii", "replace").strip() if isinstance(out, bytes) else str(out)
    return int(text) if code == 0 and text.isdigit() else None
