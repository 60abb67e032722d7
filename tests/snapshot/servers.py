"""Real servers on loopback for the look-up tests: Debian's reference registry and git daemon.

Each helper starts the real program on a free port, waits until it answers, and stops it
(by its own process id) when the test is done. Missing programs skip the test, unless
CARPENTER_REQUIRE_ENGINE=1 (scripts/test.sh installs them): then they fail.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REGISTRY_BIN = "docker-registry"  # Debian's package name for distribution's `registry`
RECORDED = Path(__file__).parent / "hub_recorded"
BASE_IMAGE = os.environ.get("CARPENTER_BASE_IMAGE", "carpenter/bookworm-python:local")


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        message = f"{program} is not installed (scripts/engine.sh installs it)"
        if os.environ.get("CARPENTER_REQUIRE_ENGINE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port}")


@contextlib.contextmanager
def running(argv: list[str], port: int, cwd: Path | None = None) -> Iterator[None]:
    log = open(os.devnull, "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=log)
    try:
        wait_port(port, process)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


@contextlib.contextmanager
def registry_server(storage: Path) -> Iterator[int]:
    """The reference distribution server (2.8) on 127.0.0.1:<port>, storage in a temp folder."""
    binary = need(REGISTRY_BIN)
    port = free_port()
    config = storage / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {storage / 'data'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n",
        encoding="utf-8")
    with running([binary, "serve", str(config)], port):
        yield port


@contextlib.contextmanager
def git_daemon(base: Path) -> Iterator[int]:
    """`git daemon --export-all` serving every repository under `base` on loopback."""
    need("git")
    port = free_port()
    argv = ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={base}",
            "--listen=127.0.0.1", f"--port={port}", "--informative-errors", str(base)]
    with running(argv, port):
        yield port


class RecordedHub(http.server.BaseHTTPRequestHandler):
    """Answers /api/models/<org>/<name>/commits/main[?p=N] from hub_recorded/<org>__<name>.pN.json
    with the hub's Link paging; 404 with the hub's error JSON for anything else."""

    seen_auth: list[str] = []

    def do_GET(self) -> None:
        self.seen_auth.append(self.headers.get("Authorization", ""))
        match = re.fullmatch(r"/api/models/([^/]+)/([^/]+)/commits/main(?:\?p=(\d+))?",
                             self.path)
        page = int(match.group(3) or 0) if match else 0
        file = RECORDED / f"{match.group(1)}__{match.group(2)}.p{page}.json" if match else None
        if file is None or not file.is_file():
            self._send(404, {"error": "Repository not found"})
            return
        nxt = file.with_name(file.name.replace(f".p{page}.", f".p{page + 1}."))
        link = {}
        if nxt.is_file():
            host = self.headers.get("Host")
            link = {"Link": f'<http://{host}{self.path.split("?")[0]}?p={page + 1}>; rel="next"'}
        self._send(200, json.loads(file.read_text()), link)

    def _send(self, status: int, body: object, extra: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def recorded_hub() -> Iterator[str]:
    """The recorded hub answers on a loopback port; yields its endpoint (for HF_ENDPOINT)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RecordedHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
