"""HTTP contract client: send what the organizers and HELM send, validate what comes back.

The contract itself is data (carpenter/data/contracts/<name>.toml). This module knows no Docker: it
talks to a base URL, so it can be tested against any HTTP server.
"""

from __future__ import annotations

import json
import time
import tomllib
from dataclasses import dataclass
from typing import Any

from carpenter.core.errors import ConfigError
from carpenter.core.redact import redact
from carpenter.core.resources import data_dir
from carpenter.smoke.result import ServerResult


@dataclass
class Contract:
    name: str
    port: int
    request_timeout_s: float
    wrong_port_grace_s: float
    health_check: dict[str, Any]
    process: dict[str, Any]
    tokenize: dict[str, Any]
    decode: dict[str, Any]


def contracts_dir():
    return data_dir() / "contracts"


def available_contracts() -> list[str]:
    return sorted(p.stem for p in contracts_dir().glob("*.toml"))


def load_contract(name: str) -> Contract:
    path = contracts_dir() / f"{name}.toml"
    try:
        data = tomllib.loads(path.read_text())
        return Contract(
            name=data["name"], port=int(data["port"]),
            request_timeout_s=float(data.get("request_timeout_s", 60)),
            wrong_port_grace_s=float(data.get("wrong_port_grace_s", 15)),
            health_check=data["health_check"], process=data["process"],
            tokenize=data["tokenize"], decode=data["decode"],
        )
    except FileNotFoundError as exc:
        known = ", ".join(available_contracts()) or "none"
        raise ConfigError(f"unknown contract {name!r} (known: {known})", path=str(path)) from exc
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"malformed contract: {exc}", path=str(path)) from exc


def type_ok(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list)
    if kind == "dict":
        return isinstance(value, dict)
    if kind == "list[int]":
        return isinstance(value, list) and all(type_ok(v, "int") for v in value)
    raise ConfigError(f"unknown type {kind!r} in contract")


def validate(obj: Any, schema: dict[str, str], where: str) -> list[str]:
    """Problems of `obj` against {field: type}: missing fields and wrong types."""
    if not isinstance(obj, dict):
        return [f"{where} is {type(obj).__name__}, expected a JSON object"]
    problems = []
    for name, kind in schema.items():
        if name not in obj:
            problems.append(f"{where} lacks {name!r}")
        elif not type_ok(obj[name], kind):
            problems.append(f"{where}.{name} is {type(obj[name]).__name__}, expected {kind}")
    return problems


def validate_process(obj: Any, spec: dict[str, Any]) -> list[str]:
    """Top-level fields, then every token's text/logprob/top_logprob (HELM reads them all)."""
    problems = validate(obj, spec["response"], "response")
    tokens = obj.get("tokens") if isinstance(obj, dict) else None
    if isinstance(tokens, list):
        if not tokens:
            problems.append("response.tokens is empty: no per-token logprobs for HELM")
        for i, token in enumerate(tokens):
            problems += validate(token, spec["token"], f"tokens[{i}]")
            top = token.get("top_logprob") if isinstance(token, dict) else None
            if isinstance(top, dict) and not all(type_ok(v, "number") for v in top.values()):
                problems.append(f"tokens[{i}].top_logprob values must be numbers")
            if len(problems) > 8:
                break
    if any("logprob" in p for p in problems):
        problems.insert(0, "missing or malformed logprobs")
    return problems


@dataclass
class Reply:
    status: int | None  # None: no HTTP answer at all
    body: Any
    text: str
    ms: float
    error: str = ""


class ContractClient:
    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def post(self, path: str, body: dict[str, Any], timeout: float | None = None) -> Reply:
        import requests

        start = time.perf_counter()
        try:
            resp = requests.post(self.base_url + path, json=body,
                                 timeout=timeout or self.timeout)
        except requests.RequestException as exc:
            return Reply(None, None, "", (time.perf_counter() - start) * 1000,
                         error=type(exc).__name__)
        ms = (time.perf_counter() - start) * 1000
        try:
            parsed = resp.json()
        except ValueError:
            parsed = None
        return Reply(resp.status_code, parsed, resp.text[:500], ms)


def unprocessable_fields(reply: Reply) -> str:
    """FastAPI/pydantic 422 detail as `field: message; ...`."""
    detail = reply.body.get("detail") if isinstance(reply.body, dict) else None
    if not isinstance(detail, list):
        return redact(reply.text[:200])
    parts = []
    for item in detail[:6]:
        if isinstance(item, dict):
            loc = [str(x) for x in item.get("loc", []) if x != "body"]
            parts.append(f"{'.'.join(loc) or '?'}: {item.get('msg', '')}")
    return "; ".join(parts)


def describe_failure(reply: Reply, extra_fields: dict[str, Any] | None = None) -> str:
    if reply.status is None:
        return f"no answer ({reply.error})"
    if reply.status == 422:
        fields = unprocessable_fields(reply)
        helm = [name for name in (extra_fields or {}) if name in fields]
        if helm:
            return f"422 on fields HELM sends ({', '.join(helm)}): {fields}"
        return f"422 Unprocessable Entity: {fields}"
    return f"HTTP {reply.status}: {redact(reply.text[:200])}"


def check_process(client: ContractClient, contract: Contract, out: ServerResult) -> None:
    spec = contract.process
    health = client.post(contract.health_check["path"], contract.health_check["body"])
    out.latency_ms["process (health check)"] = round(health.ms, 1)
    if health.status == 200:
        problems = validate_process(health.body, spec)
        out.add("health-check body", not problems,
                "organizers' prompt-only body accepted" if not problems else "; ".join(problems))
    else:
        out.add("health-check body", False,
                "organizers' prompt-only body rejected: " + describe_failure(health))
    body = {**spec["body"], **spec["helm_extra"]}
    reply = client.post(spec["path"], body)
    out.latency_ms["process"] = round(reply.ms, 1)
    if reply.status != 200:
        out.add("process (all fields + HELM extras)", False,
                describe_failure(reply, spec["helm_extra"]))
        return
    out.add("process (all fields + HELM extras)", True,
            f"200 in {reply.ms:.0f} ms with fields {', '.join(sorted(body))}")
    problems = validate_process(reply.body, spec)
    n_tokens = len(reply.body.get("tokens") or []) if isinstance(reply.body, dict) else 0
    out.add("process response fields", not problems,
            "; ".join(problems) if problems else
            f"text, {n_tokens} tokens with logprob/top_logprob, logprob, request_time")


def check_tokenize_decode(client: ContractClient, contract: Contract, out: ServerResult) -> None:
    spec = contract.tokenize
    reply = client.post(spec["path"], spec["body"])
    out.latency_ms["tokenize"] = round(reply.ms, 1)
    if reply.status != 200:
        out.add("tokenize", False, describe_failure(reply))
        return
    problems = validate(reply.body, spec["response"], "response")
    if not out.add("tokenize", not problems, "; ".join(problems) or
                   f"{len(reply.body['tokens'])} token ids"):
        return
    dspec = contract.decode
    dreply = client.post(dspec["path"], {"tokens": reply.body["tokens"]})
    out.latency_ms["decode"] = round(dreply.ms, 1)
    if dreply.status in (404, 405) and dspec.get("optional"):
        out.skip("decode", f"no {dspec['path']} endpoint (HTTP {dreply.status}); HELM needs it "
                           "to truncate long prompts")
        return
    if dreply.status != 200:
        out.add("decode", False, describe_failure(dreply))
        return
    problems = validate(dreply.body, dspec["response"], "response")
    if not out.add("decode", not problems, "; ".join(problems) or "text returned"):
        return
    original, decoded = spec["body"]["text"], dreply.body["text"]
    out.add("tokenize/decode round trip", original.strip() in decoded,
            f"{original!r} -> {len(reply.body['tokens'])} ids -> {decoded!r}"
            + ("" if original.strip() in decoded else
               " (HELM truncates prompts this way: a mismatch corrupts them)"))


def check_contract(base_url: str, contract: Contract, out: ServerResult) -> None:
    client = ContractClient(base_url, contract.request_timeout_s)
    check_process(client, contract, out)
    check_tokenize_decode(client, contract, out)


def summarize_json(value: Any, limit: int = 200) -> str:
    return redact(json.dumps(value)[:limit])
