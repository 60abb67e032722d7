"""The contract client against small real HTTP servers (stdlib), one per way to get it wrong."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from carpenter.core.errors import ConfigError
from carpenter.smoke.contract import (
    available_contracts,
    check_contract,
    load_contract,
    type_ok,
    validate,
)
from carpenter.smoke.result import ServerResult

CONTRACT = load_contract("neurips-2023")
STARTER_KIT_FIELDS = {"prompt", "num_samples", "max_new_tokens", "top_k", "temperature", "seed",
                      "echo_prompt"}

Handler = Callable[[str, dict[str, Any]], tuple[int, Any]]


def good(path: str, body: dict[str, Any]) -> tuple[int, Any]:
    if path == "/process":
        token = {"text": " Paris", "logprob": -0.5, "top_logprob": {" Paris": -0.5}}
        return 200, {"text": " Paris", "tokens": [token], "logprob": -0.5, "request_time": 0.01}
    if path == "/tokenize":
        return 200, {"tokens": [ord(c) for c in body["text"]], "request_time": 0.001}
    if path == "/decode":
        return 200, {"text": "".join(chr(t) for t in body["tokens"]), "request_time": 0.001}
    return 404, {"detail": "Not Found"}


def serve(handler: Handler) -> Iterator[str]:
    class Server(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            status, reply = handler(self.path, body)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def run_contract(handler: Handler) -> dict[str, Any]:
    out = ServerResult(contract=CONTRACT.name, port=CONTRACT.port)
    gen = serve(handler)
    url = next(gen)
    try:
        check_contract(url, CONTRACT, out)
    finally:
        gen.close()
    return {"checks": {c.name: c for c in out.checks}, "latency": out.latency_ms}


def test_a_conforming_server_passes_every_check() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def recording(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        seen.append((path, body))
        return good(path, body)

    result = run_contract(recording)
    assert {n: c.status for n, c in result["checks"].items()} == {
        "health-check body": "pass", "process (all fields + HELM extras)": "pass",
        "process response fields": "pass", "tokenize": "pass", "decode": "pass",
        "tokenize/decode round trip": "pass"}
    bodies = [b for p, b in seen if p == "/process"]
    assert bodies[0] == {"prompt": "The capital of France is "}
    assert STARTER_KIT_FIELDS | {"top_p", "stop_sequences", "top_k_per_token"} <= set(bodies[1])
    assert set(result["latency"]) == {"process (health check)", "process", "tokenize", "decode"}


def test_required_echo_prompt_and_forbidden_extras_are_422s() -> None:
    def strict(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if path == "/process":
            detail = [{"loc": ["body", "echo_prompt"], "msg": "Field required"}] \
                if "echo_prompt" not in body else []
            detail += [{"loc": ["body", k], "msg": "Extra inputs are not permitted"}
                       for k in body if k not in STARTER_KIT_FIELDS]
            if detail:
                return 422, {"detail": detail}
        return good(path, body)

    checks = run_contract(strict)["checks"]
    health = checks["health-check body"]
    assert health.failed and "echo_prompt: Field required" in health.detail
    process = checks["process (all fields + HELM extras)"]
    assert process.failed and process.detail.startswith("422 on fields HELM sends (")
    assert "top_p" in process.detail and "stop_sequences" in process.detail
    assert "process response fields" not in checks


def test_missing_logprobs_are_reported() -> None:
    def no_logprobs(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if path == "/process":
            return 200, {"text": "x", "tokens": [{"text": "x"}], "request_time": 0.1}
        return good(path, body)

    checks = run_contract(no_logprobs)["checks"]
    fields = checks["process response fields"]
    assert fields.failed
    assert fields.detail.startswith("missing or malformed logprobs")
    assert "response lacks 'logprob'" in fields.detail
    assert "tokens[0] lacks 'top_logprob'" in fields.detail


def test_absent_decode_is_skipped_and_a_lossy_round_trip_fails() -> None:
    def no_decode(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        return (404, {"detail": "Not Found"}) if path == "/decode" else good(path, body)

    checks = run_contract(no_decode)["checks"]
    assert checks["decode"].status == "skip"
    assert "tokenize/decode round trip" not in checks

    def lossy(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if path == "/decode":
            return 200, {"text": "the capital of france", "request_time": 0.0}
        return good(path, body)

    trip = run_contract(lossy)["checks"]["tokenize/decode round trip"]
    assert trip.failed and "corrupts" in trip.detail


def test_validate_and_type_rules() -> None:
    assert type_ok(1, "number") and type_ok(1.5, "number") and not type_ok(True, "number")
    assert type_ok([1, 2], "list[int]") and not type_ok([1, "2"], "list[int]")
    problems = validate({"text": 3}, {"text": "str", "request_time": "number"}, "response")
    assert problems == ["response.text is int, expected str", "response lacks 'request_time'"]
    assert validate([], {"a": "str"}, "response") == ["response is list, expected a JSON object"]


def test_unknown_contract_is_a_config_error() -> None:
    assert "neurips-2023" in available_contracts()
    with pytest.raises(ConfigError, match="unknown contract 'nope'"):
        load_contract("nope")
