"""Text and JSON renderings of a SmokeResult (every string already passed through redact)."""

from __future__ import annotations

import json

from carpenter.core.redact import redact
from carpenter.smoke.result import Check, SmokeResult

VERSION_KEYS = ("python", "torch", "cuda", "transformers", "peft", "bitsandbytes", "tokenizers",
                "accelerate")
PHASES = (("container_start", "container start"), ("imports", "imports"),
          ("training", "training"), ("checks", "checks"), ("gpu_checks", "GPU checks"),
          ("harness_total", "harness"), ("container_wall", "container"), ("total", "total"))


def to_json(result: SmokeResult) -> str:
    return redact(json.dumps(result.to_dict(), indent=2, sort_keys=True, default=str))


def _check_lines(checks: list[Check]) -> list[str]:
    width = max((len(c.name) for c in checks), default=0)
    return [f"    {c.status.upper():4}  {c.name:<{width}}  {c.detail}" for c in checks]


def _versions(result: SmokeResult) -> str:
    parts = []
    for key in VERSION_KEYS:
        if key in result.versions:
            value = result.versions[key]
            parts.append(f"{key} {value if value else '-'}")
    return ", ".join(parts) or "unknown"


def _indent(text: str, prefix: str = "      | ") -> list[str]:
    return [prefix + line for line in text.splitlines()]


def to_text(result: SmokeResult) -> str:
    short_id = (result.image_id or "")[7:19]
    lines = [f"carpenter smoke: {result.image}" + (f" ({short_id})" if short_id else "")]
    lines.append(f"  device:   {result.device or 'unknown'}")
    if result.gpu_fallback:
        lines.append(f"  GPU:      {result.gpu_fallback}")
    lines.append(f"  versions: {_versions(result)}")
    if result.losses:
        lines.append(f"  losses:   {result.losses[0]:.4f} -> {result.losses[-1]:.4f} "
                     f"({len(result.losses)} steps, {result.trainable_params} LoRA params)")
    lines.append("  checks:")
    lines += _check_lines(result.checks)
    timings = [f"{label} {result.timings[key]:.2f} s" for key, label in PHASES
               if key in result.timings]
    lines.append("  timings:  " + ", ".join(timings))
    if result.log_tail and any(c.failed for c in result.checks):
        lines.append("  harness stderr (last lines):")
        lines += _indent(result.log_tail)
    if result.server:
        server = result.server
        lines.append(f"  server ({server.contract} contract, port {server.port}):")
        lines += [f"    note: {note}" for note in server.notes]
        lines += _check_lines(server.checks)
        if server.failure:
            lines.append(f"    failure: {server.failure['class']}: {server.failure['evidence']}")
            if server.failure.get("hint"):
                lines.append(f"      ({server.failure['hint']})")
        if server.latency_ms:
            lines.append("    latency: " + ", ".join(
                f"{k} {v:.0f} ms" for k, v in server.latency_ms.items()))
        if server.log_tail:
            lines.append("    server log (last lines):")
            lines += _indent(server.log_tail)
    failed = [c for c in result.all_checks() if c.failed]
    verdict = "PASSED" if result.passed else f"FAILED ({len(failed)} check(s) failed)"
    lines.append(f"  result:   {verdict}")
    return redact("\n".join(lines))
