"""Registry mirrors for base-image look-ups: configuration units, and digests looked up through
a real reference registry acting as the mirror (images pushed from the local engine under the
mirror's paths), by the client, by `Lookups` and by `carpenter fix`."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from carpenter.core.errors import ConfigError
from carpenter.fix.cli import fix as fix_command
from carpenter.snapshot import registry
from carpenter.snapshot.lookup import Lookups
from carpenter.snapshot.mirrors import (
    ENV_VAR,
    configured_mirrors,
    daemon_mirrors,
    parse_mirror,
    parse_mirrors,
)
from carpenter.snapshot.model import parse_snapshot
from carpenter.snapshot.registry import DOCKER_HUB_HOST, Mirror, RegistryClient, RegistryError

from .conftest import docker_cli
from .servers import BASE_IMAGE, need, registry_server

SNAPSHOT = """
schema = 1
name = "mirror-test"
as_of = "2023-12-01"
[target]
python = "3.10"
platform = "x86_64-unknown-linux-gnu"
"""

# -- configuration ---------------------------------------------------------------------------


def test_a_bare_url_mirrors_docker_hub() -> None:
    mirror = parse_mirror("http://127.0.0.1:5000", "--registry-mirror")
    assert mirror == Mirror(DOCKER_HUB_HOST, "http://127.0.0.1:5000", "", "--registry-mirror")


def test_a_url_path_is_a_repository_prefix_and_registries_are_normalised() -> None:
    harbor = parse_mirror("nvcr.io=https://Harbor.example.org/nvcr-proxy/", "x")
    assert (harbor.registry, harbor.root, harbor.prefix) == (
        "nvcr.io", "https://harbor.example.org", "nvcr-proxy")
    assert harbor.host == "harbor.example.org"
    assert parse_mirror("index.docker.io=https://m.example.org", "x").registry == DOCKER_HUB_HOST


def test_several_mirrors_in_one_value_keep_their_order() -> None:
    found = parse_mirrors(["https://a.example.org, ghcr.io=https://b.example.org/ghcr",
                           "https://c.example.org"], ENV_VAR)
    assert [(m.registry, m.root) for m in found] == [
        (DOCKER_HUB_HOST, "https://a.example.org"), ("ghcr.io", "https://b.example.org"),
        (DOCKER_HUB_HOST, "https://c.example.org")]


@pytest.mark.parametrize(("value", "message"), [
    ("mirror.example.org", "http:// or https://"),
    ("ftp://mirror.example.org", "http:// or https://"),
    ("Not A Registry=https://m.example.org", "not a registry name"),
    ("https://m.example.org/?token=1", "no query or fragment"),
    ("https://m.example.org/Bad Prefix", "not a repository prefix"),
    ("https://m.example.org:99999", "is not a URL"),
])
def test_bad_mirror_values_are_clear_errors(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_mirror(value, "--registry-mirror")
    assert info.value.message.startswith("--registry-mirror: ")


def test_a_password_in_a_mirror_url_is_refused_and_never_shown() -> None:
    secret = "pw-" + uuid.uuid4().hex
    with pytest.raises(ConfigError, match="no user or password") as info:
        parse_mirror(f"https://alice:{secret}@mirror.example.org", ENV_VAR)
    assert secret not in info.value.message


def test_the_docker_daemons_mirrors_are_read_as_dockerd_reads_them(tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    config.write_text(json.dumps({"registry-mirrors": [
        "https://mirror.gcr.io", "http://10.0.0.1:5000/api/", "not a url", 7]}))
    found = daemon_mirrors(config)
    # dockerd's path is where /v2/ lives, not a repository prefix.
    assert [(m.registry, m.root, m.prefix) for m in found] == [
        (DOCKER_HUB_HOST, "https://mirror.gcr.io", ""),
        (DOCKER_HUB_HOST, "http://10.0.0.1:5000/api", "")]
    assert found[0].source == str(config)
    config.write_text("{broken")
    assert daemon_mirrors(config) == []
    assert daemon_mirrors(tmp_path / "missing.json") == []


def test_options_come_first_then_the_environment_then_the_daemon(tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    config.write_text(json.dumps({"registry-mirrors": ["https://d.example.org",
                                                       "https://a.example.org"]}))
    found = configured_mirrors(["https://a.example.org"], {ENV_VAR: "https://e.example.org"},
                               config)
    assert [(m.root, m.source) for m in found] == [
        ("https://a.example.org", "--registry-mirror"), ("https://e.example.org", ENV_VAR),
        ("https://d.example.org", str(config))]


def test_a_bad_environment_value_stops_fix_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.10-slim\n")
    env = {**os.environ, ENV_VAR: "docker.io=mirror-without-scheme"}
    done = subprocess.run([sys.executable, "-m", "carpenter.cli", "fix", "--write", "-j", "1",
                           str(tmp_path / "Dockerfile")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (f"carpenter: error: {ENV_VAR}: a mirror must be an http:// or "
                           "https:// URL, not 'mirror-without-scheme'\n")
    assert (tmp_path / "Dockerfile").read_text() == "FROM python:3.10-slim\n"


# -- a real registry as the mirror -------------------------------------------------------------

# Upstream reference -> the path it has on the mirror (Docker Hub's names with library/).
ON_MIRROR = {
    "python:3.10-slim": "library/python:3.10-slim",
    "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel":
        "hub/pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel",  # behind a Harbor-style prefix
    "nvcr.io/nvidia/pytorch:23.10-py3": "nvcr/nvidia/pytorch:23.10-py3",
    "localhost:{port}/ml/base:2.1.0": "ml/base:2.1.0",  # the upstream registry itself
}


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """A reference registry holding the local base image under each ON_MIRROR path;
    yields (port, digest). One image, so one digest: the paths tell the answers apart."""
    need("docker")
    try:
        docker_cli("image", "inspect", BASE_IMAGE)
    except AssertionError:
        pytest.skip(f"no {BASE_IMAGE}; run scripts/engine.sh")
    with registry_server(tmp_path_factory.mktemp("mirror")) as port:
        refs = [f"localhost:{port}/{path}" for path in ON_MIRROR.values()]
        digest = ""
        try:
            for ref in refs:
                docker_cli("tag", BASE_IMAGE, ref)
                out = docker_cli("push", ref)
                digest = next(w for w in out.split() if w.startswith("sha256:"))
            yield port, digest
        finally:
            for ref in refs:
                with contextlib.suppress(AssertionError):
                    docker_cli("image", "rm", ref)


def _mirrors(*values: str, port: int) -> tuple[Mirror, ...]:
    return tuple(parse_mirrors([v.format(port=port) for v in values], "--registry-mirror"))


@pytest.mark.engine
def test_a_docker_hub_image_resolves_through_the_mirror(mirror) -> None:
    port, digest = mirror
    client = RegistryClient(timeout=10, mirrors=_mirrors("http://127.0.0.1:{port}", port=port))
    found = client.resolve("python:3.10-slim")
    assert found.digest == digest
    assert found.mirror is not None and found.mirror.root == f"http://127.0.0.1:{port}"


@pytest.mark.engine
def test_a_harbor_style_prefix_and_other_registries_are_mirrored(mirror) -> None:
    port, digest = mirror
    client = RegistryClient(timeout=10, mirrors=_mirrors(
        "docker.io=http://127.0.0.1:{port}/hub", "nvcr.io=http://127.0.0.1:{port}/nvcr",
        port=port))
    assert client.resolve("pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel").digest == digest
    nvcr = client.resolve("nvcr.io/nvidia/pytorch:23.10-py3")
    assert nvcr.digest == digest and nvcr.mirror is not None and nvcr.mirror.prefix == "nvcr"
    with pytest.raises(RegistryError, match="no such tag on the mirror"):
        client.resolve("python:3.10-slim")  # not under hub/ on this mirror


@pytest.mark.engine
def test_the_registry_answers_when_its_mirror_lacks_the_tag(mirror) -> None:
    port, digest = mirror
    upstream = f"localhost:{port}"
    client = RegistryClient(timeout=10, mirrors=_mirrors(
        f"{upstream}=http://127.0.0.1:{{port}}/empty", port=port))
    found = client.resolve(f"{upstream}/ml/base:2.1.0")
    assert found.digest == digest and found.mirror is None
    assert found.skipped and "no such tag on the mirror" in found.skipped[0]


class CountingSession(requests.Session):
    """A real session that counts the requests sent to each endpoint root."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        self.sent.append(url.split("/v2/")[0])
        return super().request(method, url, *args, **kwargs)


@pytest.mark.engine
def test_a_mirror_that_cannot_be_reached_is_asked_once(mirror) -> None:
    port, digest = mirror
    session = CountingSession()
    client = RegistryClient(timeout=5, session=session, mirrors=_mirrors(
        "http://127.0.0.1:9", "http://127.0.0.1:{port}", port=port))
    assert client.resolve("python:3.10-slim").digest == digest
    assert client.resolve("python:3.10-slim").digest == digest
    assert session.sent.count("http://127.0.0.1:9") == 1


class RecordedTags(http.server.BaseHTTPRequestHandler):
    """Docker Hub's tag API (hub.docker.com/v2/repositories/<ns>/<repo>/tags/<tag>), which
    does not answer here: the recorded shape, with the digest and push time of the test."""

    body: dict = {}

    def do_GET(self) -> None:
        data = json.dumps(self.body).encode()
        self.send_response(200 if self.path.startswith("/v2/repositories/library/") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def docker_hub_api(body: dict, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    handler = type("Tags", (RecordedTags,), {"body": body})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(registry, "DOCKER_HUB_API", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.engine
def test_a_late_push_is_still_reported_through_a_mirror(
        mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    port, digest = mirror
    mirrors = _mirrors("http://127.0.0.1:{port}", port=port)
    late = {"name": "3.10-slim", "digest": digest, "tag_last_pushed": "2024-03-05T10:00:00Z"}
    with docker_hub_api(late, monkeypatch):
        pin = Lookups(parse_snapshot(SNAPSHOT.encode()), mirrors=mirrors).image_digest(
            "python:3.10-slim")
    assert (pin.value, pin.origin) == (digest, "mirror")
    assert "pushed on 2024-03-05, after 2023-12-01" in pin.note
    assert f"through the registry mirror http://127.0.0.1:{port}" in pin.note
    # The mirror's copy is an earlier push than the tag's latest: that date is not its own.
    other = {**late, "digest": "sha256:" + "0" * 64}
    with docker_hub_api(other, monkeypatch):
        pin = Lookups(parse_snapshot(SNAPSHOT.encode()), mirrors=mirrors).image_digest(
            "python:3.10-slim")
    assert pin.value == digest and "pushed" not in pin.note


@pytest.mark.engine
def test_fix_pins_bases_through_mirrors_and_says_so(
        mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port, digest = mirror
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM carpenterabsent/none:1 AS old\n"  # on no mirror, nor Hub
                          "FROM python:3.10-slim AS app\n"
                          "FROM nvcr.io/nvidia/pytorch:23.10-py3\n")
    snap = tmp_path / "snap.toml"
    snap.write_text(SNAPSHOT)
    monkeypatch.setenv(ENV_VAR, f"nvcr.io=http://127.0.0.1:{port}/nvcr")
    monkeypatch.delenv("CARPENTER_OFFLINE", raising=False)
    result = CliRunner().invoke(fix_command, [
        str(dockerfile), "--snapshot", str(snap), "-j", "1", "--write", "--format", "json",
        "--registry-mirror", f"http://127.0.0.1:{port}"])
    report = json.loads(result.output)
    text = dockerfile.read_text()
    assert f"FROM python:3.10-slim@{digest} AS app\n" in text
    assert f"FROM nvcr.io/nvidia/pytorch:23.10-py3@{digest}\n" in text
    assert "FROM carpenterabsent/none:1 AS old\n" in text  # a miss does not stop the mirror
    notes = "\n".join(report["notes"])
    assert (f"python:3.10-slim: digest looked up through the registry mirror "
            f"http://127.0.0.1:{port}, configured by --registry-mirror") in notes
    assert f"configured by {ENV_VAR}" in notes
    old = next(r for r in report["skipped"] if r["line"] == 1)
    assert "no such tag on the mirror" in old["reason"]
