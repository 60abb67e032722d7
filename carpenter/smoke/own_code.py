"""Run the submission's own server the way the evaluation would, but offline and on CPU.

Adds to the contract check (server.py): the tiny stand-ins for the hub ids it loads
(tinymodel.py), the variables and secrets it reads (`--env`, `--secret`), a failure class with
its evidence line for every failure (failures.py), the inference budget and peak memory
(budget.py). When the server dies offline naming a hub id nobody passed, the run is repeated
once with a stand-in for that id.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carpenter.core.errors import ConfigError
from carpenter.core.options import SecretSpec
from carpenter.core.redact import redact, remember
from carpenter.smoke import budget, failures, tinymodel
from carpenter.smoke.result import ServerResult, SmokeResult

READY = "server ready on port"
LOG_LINES = 400
# Never let a probe of a slow server eat the whole run: stop after this many seconds.
PROBE_CAP_S = 120.0
# The internal network already blocks the hub, but each DNS lookup there takes 10 s and the hub
# client retries: a server looking up an id nobody named took 250 s to fail. Pointing the hub's
# names at loopback refuses at once (60 s with the client's retries) and the log still names the
# URL, hence the repo id to substitute on the retry.
HUB_HOSTS = ("huggingface.co", "hf.co", "cdn-lfs.huggingface.co", "cdn-lfs.hf.co")


def secret_value(secret: SecretSpec) -> str:
    if secret.env is not None:
        if secret.env not in os.environ:
            raise ConfigError(f"--secret id={secret.id}: environment variable {secret.env} "
                              "is not set")
        value = os.environ[secret.env]
    else:
        try:
            value = Path(secret.src or "").read_text().strip()
        except OSError as exc:
            raise ConfigError(f"--secret id={secret.id}: cannot read {secret.src}: "
                              f"{exc.strerror}", path=secret.src) from exc
    remember([value])
    return value


def parse_adapter(value: str, models: tuple[str, ...]) -> tuple[str, str]:
    """`ADAPTER_ID=BASE_ID`, or `ADAPTER_ID` alone for an adapter of the first --model."""
    repo, sep, base = value.partition("=")
    if not sep:
        if not models:
            raise ConfigError(f"--adapter {value}: name its base (ADAPTER=BASE) or pass --model")
        base = models[0]
    return (tinymodel.check_repo_id(repo, "--adapter"), tinymodel.check_repo_id(base, "--adapter"))


@dataclass
class OwnRun:
    """Per-attempt settings and measurements handed to server.check_server."""

    env: dict[str, str]
    tiny: tinymodel.TinyCache
    spec: budget.BudgetSpec | None
    probe_requests: int
    track: str | None
    real_weights: bool = False
    full_log: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def container_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"environment": {**self.env, **self.tiny.env()},
                                  "volumes": self.tiny.volumes()}
        if not self.real_weights:
            kwargs["extra_hosts"] = {host: "127.0.0.1" for host in HUB_HOSTS}
        return kwargs

    def after_contract(self, client, contract, out: ServerResult) -> None:
        if self.spec is None or self.probe_requests <= 0 or any(c.failed for c in out.checks):
            return
        base = {**contract.process["body"], **contract.process["helm_extra"]}
        probe(client, contract.process["path"], self.spec,
              budget.request_bodies(self.spec, base, self.probe_requests), out,
              tiny=bool(self.tiny.substituted))

    def finish(self, container, out: ServerResult, timeout: float) -> None:
        peak = budget.peak_memory(container)
        out.peak_memory_mb = round(peak / 2**20, 1) if peak else None
        if self.spec is not None:
            for name, status, detail in budget.memory_verdict(peak, self.spec, self.track):
                if status == "skip":
                    out.skip(name, detail)
                else:
                    out.add(name, status == "pass", detail)
        self.full_log = full_log(container)
        found = classify(container, out, self.full_log, timeout)
        if found is not None:
            out.failure = {"class": found.name, "evidence": found.evidence, "hint": found.hint}


def full_log(container) -> str:
    try:
        text = container.logs(stdout=True, stderr=True, tail=LOG_LINES)
    except Exception:
        return ""
    return redact(text.decode("utf-8", "replace"))


def classify(container, out: ServerResult, log: str, timeout: float) -> failures.Failure | None:
    failed = [c for c in out.checks if c.failed]
    if not failed:
        return None
    first = failed[0]
    if first.name.startswith(READY):
        if "exited with code" in first.detail:
            container.reload()
            state = container.attrs.get("State") or {}
            limit = (container.attrs.get("HostConfig") or {}).get("Memory")
            return failures.classify_exit(log, state.get("ExitCode"),
                                          bool(state.get("OOMKilled")), limit or None)
        if "within the deadline" in first.detail:
            return failures.classify_timeout(log, timeout)
        return failures.Failure("contract", first.detail,
                                "HELM connects to port 80 on all interfaces")
    if first.name.startswith("budget"):
        return failures.Failure("timeout", first.detail,
                                "the evaluation stops at the budget; unanswered questions score 0")
    if first.name in ("peak memory",) or first.name.startswith("GPU memory"):
        return failures.Failure("out-of-memory", first.detail, "over the track's memory")
    return failures.Failure("contract", f"{first.name}: {first.detail}",
                            "HELM sends these bodies and reads these fields")


def probe(client, path: str, spec: budget.BudgetSpec, bodies: list[dict[str, Any]],
          out: ServerResult, tiny: bool) -> None:
    """Time HELM-shaped requests one after another (HELM sends them sequentially)."""
    seconds, tokens, errors = [], 0, []
    started = time.monotonic()
    for body in bodies:
        reply = client.post(path, body)
        if reply.status != 200:
            errors.append(f"HTTP {reply.status or reply.error}")
            break
        seconds.append(reply.ms / 1000)
        if isinstance(reply.body, dict) and isinstance(reply.body.get("tokens"), list):
            tokens += len(reply.body["tokens"])
        if time.monotonic() - started > PROBE_CAP_S:
            break
    if errors or not seconds:
        out.add("budget probe", False, f"a HELM-shaped request failed: {', '.join(errors)}")
        return
    mean = sum(seconds) / len(seconds)
    out.budget = {"requests": len(seconds), "mean_s": round(mean, 4),
                  "max_s": round(max(seconds), 4),
                  "tokens_per_s": round(tokens / sum(seconds), 1) if sum(seconds) else None,
                  "requests_per_s": round(len(seconds) / sum(seconds), 2),
                  "what": ("code path only: CPU and tiny stand-in weights" if tiny else
                           "this machine and these weights")}
    for name, ok, text in budget.stage_verdicts(spec, mean):
        suffix = " (CPU, tiny weights: code path only)" if tiny and ok else ""
        out.add(f"budget ({name} stage)", ok, text + suffix)


def prepare_run(client, image: str, options, models: list[str],
                adapters: dict[str, str]) -> OwnRun:
    env = dict(options.env)
    for secret in options.secrets:
        env[secret.id] = secret_value(secret)
    tiny = (tinymodel.prepare(client, image, models, adapters)
            if options.tiny and not options.real_weights else tinymodel.TinyCache())
    spec = budget.load_budget(options.contract)
    count = spec.probe_requests if options.budget_requests is None else options.budget_requests
    return OwnRun(env, tiny, spec, count, options.track, options.real_weights)


def check_own_server(client, image: str, options, result: SmokeResult) -> ServerResult:
    from carpenter.smoke.server import check_server

    models = list(dict.fromkeys(options.models))
    adapters = dict(options.adapters)
    run = prepare_run(client, image, options, models, adapters)
    try:
        out = check_server(client, image, options, result, run=run)
        retry = ids_to_retry(out, run, models, adapters, options)
    finally:
        run.tiny.cleanup()
    if retry:
        first = out
        run = prepare_run(client, image, options, models + retry, adapters)
        try:
            out = check_server(client, image, options, result, run=run)
        finally:
            run.tiny.cleanup()
        out.notes.insert(0, f"first attempt failed ({(first.failure or {}).get('class')}: "
                            f"{(first.failure or {}).get('evidence', '')}); retried with tiny "
                            f"stand-ins for {', '.join(retry)} named in the server's log")
    decorate(out, run)
    return out


def ids_to_retry(out: ServerResult, run: OwnRun, models: list[str], adapters: dict[str, str],
                 options) -> list[str]:
    if (not options.tiny or options.real_weights
            or (out.failure or {}).get("class") not in ("network", "model-load")):
        return []
    return ids_in_log(run.full_log, models, adapters)


def ids_in_log(log: str, models: list[str], adapters: dict[str, str]) -> list[str]:
    """Hub ids an offline failure names that nobody passed and that a tiny stand-in can serve."""
    shapes = tinymodel.load_shapes()
    known = set(models) | set(adapters)
    return [repo for repo in failures.repos_in_log(log)
            if repo not in known and shapes.family_for(repo)
            and not shapes.needs_remote_code(repo)][:4]


def decorate(out: ServerResult, run: OwnRun) -> None:
    out.substituted = list(run.tiny.substituted)
    out.notes += run.tiny.notes
    if run.real_weights:
        out.notes.insert(0, "real weights: no tiny stand-ins, network allowed; on the target "
                            "GPU this is the real verdict")
    if run.tiny.substituted:
        names = ", ".join(f"{s['repo']} ({s.get('class') or s['family']})"
                          for s in run.tiny.substituted)
        how = "from cache" if run.tiny.cached else f"built in {run.tiny.build_s:g} s"
        out.notes.insert(0, f"weights substituted: {names} are tiny random-weight stand-ins "
                            f"({how}, transformers {run.tiny.transformers}); this proves the "
                            "server's code path, not the model's quality or speed")
