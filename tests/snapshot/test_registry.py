"""Registry look-ups: tag -> digest against the real reference registry, token-flow units."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from carpenter.snapshot.registry import (
    DOCKER_HUB_HOST,
    RegistryClient,
    RegistryError,
    docker_credentials,
    parse_challenge,
    parse_image_name,
    parse_push_time,
)

from .conftest import docker_cli as _docker

# -- names -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("ref", "host", "repo", "tag"), [
    ("python", DOCKER_HUB_HOST, "library/python", "latest"),
    ("python:3.10-slim", DOCKER_HUB_HOST, "library/python", "3.10-slim"),
    ("docker.io/pytorch/pytorch:2.1.0-cuda11.8-cudnn8-runtime", DOCKER_HUB_HOST,
     "pytorch/pytorch", "2.1.0-cuda11.8-cudnn8-runtime"),
    ("index.docker.io/library/ubuntu:22.04", DOCKER_HUB_HOST, "library/ubuntu", "22.04"),
    ("nvcr.io/nvidia/pytorch:23.10-py3", "nvcr.io", "nvidia/pytorch", "23.10-py3"),
    ("ghcr.io/org/img", "ghcr.io", "org/img", "latest"),
    ("localhost:5000/ml/base:2.1.0", "localhost:5000", "ml/base", "2.1.0"),
    ("nvidia/cuda:12.1.0-devel-ubuntu22.04@sha256:" + "a" * 64, DOCKER_HUB_HOST,
     "nvidia/cuda", "12.1.0-devel-ubuntu22.04"),
])
def test_image_names_follow_dockers_rules(ref: str, host: str, repo: str, tag: str) -> None:
    name = parse_image_name(ref)
    assert (name.host, name.repository, name.tag) == (host, repo, tag)


@pytest.mark.parametrize("ref", ["", "Has Upper/x:1", "img:bad tag", "img:" + "x" * 200])
def test_bad_references_are_clear_errors(ref: str) -> None:
    with pytest.raises(RegistryError, match="not an image reference"):
        parse_image_name(ref)


def test_loopback_registries_are_spoken_to_over_plain_http() -> None:
    assert parse_image_name("localhost:5000/a:1").scheme == "http"
    assert parse_image_name("127.0.0.1:5000/a:1").scheme == "http"
    assert parse_image_name("ghcr.io/a:1").scheme == "https"


# -- the token flow (recorded headers) -------------------------------------------------------

# Recorded from Docker Hub (HEAD /v2/library/python/manifests/3.10 without a token).
DOCKER_HUB_401 = ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                  'scope="repository:library/python:pull"')
# ghcr.io names two actions in one quoted scope: the comma must not split it.
GHCR_401 = 'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:o/i:pull,push"'


def test_a_docker_hub_challenge_names_realm_service_and_scope() -> None:
    scheme, params = parse_challenge(DOCKER_HUB_401)
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                      "scope": "repository:library/python:pull"}


def test_quoted_commas_stay_inside_the_scope() -> None:
    assert parse_challenge(GHCR_401)[1]["scope"] == "repository:o/i:pull,push"
    assert parse_challenge('Basic realm="Registry Realm"') == ("basic", {"realm": "Registry Realm"})


def test_credentials_come_from_the_docker_config(tmp_path: Path) -> None:
    secret = "s3cr3t-" + uuid.uuid4().hex
    auth = base64.b64encode(f"alice:{secret}".encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {
        "https://index.docker.io/v1/": {"auth": auth},
        "nvcr.io": {"username": "$oauthtoken", "password": "nv-key"}}}))
    assert docker_credentials(DOCKER_HUB_HOST, str(tmp_path)) == ("alice", secret)
    assert docker_credentials("nvcr.io", str(tmp_path)) == ("$oauthtoken", "nv-key")
    assert docker_credentials("ghcr.io", str(tmp_path)) is None
    (tmp_path / "config.json").write_text("{not json")
    assert docker_credentials(DOCKER_HUB_HOST, str(tmp_path)) is None


def test_an_unreachable_registry_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    secret = "pw-" + uuid.uuid4().hex
    auth = base64.b64encode(f"bob:{secret}".encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"127.0.0.1:9": {"auth": auth}}}))
    client = RegistryClient(timeout=2, config_dir=str(tmp_path))
    with pytest.raises(RegistryError, match="cannot reach") as info:
        client.resolve("127.0.0.1:9/ml/base:1")
    assert secret not in str(info.value) and auth not in str(info.value)


def test_docker_hub_push_time_prefers_tag_last_pushed() -> None:
    # Shape of GET hub.docker.com/v2/repositories/<ns>/<repo>/tags/<tag> (fields trimmed).
    recorded = {"name": "2.1.0-cuda11.8-cudnn8-runtime", "digest": "sha256:" + "a" * 64,
                "last_updated": "2024-02-01T10:00:00.000000Z",
                "tag_last_pushed": "2023-10-04T19:46:25.215713Z"}
    assert parse_push_time(recorded) == datetime(2023, 10, 4, 19, 46, 25, 215713, tzinfo=UTC)
    assert parse_push_time({"last_updated": "2023-01-02T00:00:00Z"}).year == 2023
    assert parse_push_time({"last_updated": "garbage"}) is None
    assert parse_push_time([]) is None


# -- the real reference registry -------------------------------------------------------------

@pytest.mark.engine
def test_a_pushed_tag_resolves_to_the_digest_the_engine_reports(pushed) -> None:
    port, digest = pushed
    found = RegistryClient(timeout=10).resolve(f"localhost:{port}/ml/base:2.1.0")
    assert found.digest == digest
    assert found.media_type.startswith("application/vnd.")
    assert found.pushed is None  # the OCI API has no push time
    repo_digests = _docker("image", "inspect", "--format", "{{json .RepoDigests}}",
                           f"localhost:{port}/ml/base:2.1.0")
    assert f"localhost:{port}/ml/base@{digest}" in json.loads(repo_digests)


@pytest.mark.engine
def test_a_missing_tag_is_reported_as_such(pushed) -> None:
    port, _ = pushed
    with pytest.raises(RegistryError, match="no such tag"):
        RegistryClient(timeout=10).resolve(f"localhost:{port}/ml/base:9.9.9")


@pytest.mark.engine
def test_a_multi_arch_tag_gives_its_index_digest(pushed) -> None:
    port, single = pushed
    index = f"localhost:{port}/ml/multi:2.1.0"
    _docker("manifest", "create", "--insecure", index, f"localhost:{port}/ml/base:2.1.0")
    try:
        # `manifest push` prints the digest of the list it pushed, last.
        pushed_digest = _docker("manifest", "push", "--insecure", index).split()[-1]
    finally:
        subprocess.run(["docker", "manifest", "rm", index], capture_output=True, timeout=60)
    found = RegistryClient(timeout=10).resolve(index)
    assert found.digest == pushed_digest != single
    assert found.media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
