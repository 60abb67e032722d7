"""End-to-end rebuilds on the real engine: every failure class from a real failing fixture."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from pathlib import Path

import pytest
from rebuild_helpers import BASE_IMAGE, carpenter

from carpenter.rebuild.engine import docker_cli
from carpenter.rebuild.interface import BuildRequest, SecretSpec
from carpenter.rebuild.rebuild import rebuild

pytestmark = pytest.mark.engine


def _sleepers() -> list[str]:
    """Host processes running the fixture's `sleep 613` (build steps share the host's PID
    namespace view through /proc; `ps` may not be installed)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if args[:2] == [b"sleep", b"613"]:
            found.append(str(cmdline.parent))
    return found


def request_for(context: Path, tag: str, **kw) -> BuildRequest:
    return BuildRequest(context=context, dockerfile=context / "Dockerfile", tag=tag, **kw)


def log_line(result, number: int) -> str:
    return Path(result.log_path).read_text().splitlines()[number - 1]


def test_offline_wheelhouse_builds_with_network_none(engine, fixture_dir, image_tag, tmp_path):
    ctx = fixture_dir("ok-wheelhouse")
    result = rebuild(request_for(ctx, image_tag, network="none", no_cache=True),
                     tmp_path / "build.log")
    assert result.status == "built", result
    assert result.failure_class is None
    assert engine.inspect_image(image_tag)["Id"] == result.image_id
    assert result.image_size and result.image_size > 0
    # Contents, not ids: the wheelhouse pins are what the image holds.
    assert "six==1.16.0" in result.pip_freeze
    assert "tomli==2.0.1" in result.pip_freeze
    log = Path(result.log_path)
    assert log.is_file() and not log.with_name(log.name + ".part").exists()
    assert "Successfully installed six-1.16.0 tomli-2.0.1" in log.read_text()


# (fixture, request options, class, text the evidence line must contain)
FAILURES = [
    ("dependency-resolution", {"network": "none"}, "dependency-resolution",
     "Could not find a version that satisfies the requirement six==99.0.0"),
    ("network", {"network": "none"}, "network", "Temporary failure in name resolution"),
    ("missing-context-file", {}, "missing-context-file", "model_weights.bin"),
    ("cuda-compile", {}, "cuda-compile", "nvcc"),
    ("out-of-memory", {"memory": 128 * 1024**2}, "out-of-memory", "137"),
    ("apt-version-missing", {"network": "none"}, "apt-version-missing",
     "Version '3.11.0-0carpenter1' for 'python3' was not found"),
    ("parse-error", {}, "parse-error", "unknown instruction: ECHO"),
    ("needs-buildkit", {"backend": "legacy"}, "needs-buildkit", "--mount option requires BuildKit"),
    ("needs-buildkit-syntax", {}, "needs-buildkit", "docker/dockerfile:1.7"),
    ("needs-buildkit-heredoc", {}, "needs-buildkit", "unknown instruction: ECHO"),
    # The command's own last line, not the executor's "returned a non-zero code: 3".
    ("command-failed", {}, "command-failed", "model missing"),
    ("command-failed", {"backend": "buildkit"}, "command-failed", "model missing"),
    ("engine-error", {}, "engine-error", "OCI runtime create failed"),
    ("command-failed", {"memory": 4 * 1024**2}, "engine-error", "Minimum memory limit"),
]


@pytest.mark.parametrize(("name", "options", "expected", "evidence"), FAILURES,
                         ids=[f"{f[2]}-{f[0]}-{'-'.join(f[1]) or 'default'}" for f in FAILURES])
def test_failure_class_with_evidence(
    engine, fixture_dir, image_tag, tmp_path, name, options, expected, evidence
):
    ctx = fixture_dir(name)
    result = rebuild(request_for(ctx, image_tag, **options), tmp_path / "build.log")
    assert result.status == "failed"
    assert result.failure_class == expected, (result.evidence, result.message)
    assert evidence in result.evidence
    # The evidence is a real line of the written log, at the line number reported.
    assert log_line(result, result.evidence_line) == result.evidence
    with pytest.raises(Exception):  # noqa: B017 - docker.errors.ImageNotFound
        engine.inspect_image(image_tag)


def test_command_failed_reports_exit_code(engine, fixture_dir, image_tag, tmp_path):
    result = rebuild(request_for(fixture_dir("command-failed"), image_tag), tmp_path / "b.log")
    assert (result.failure_class, result.exit_code) == ("command-failed", 3)


def test_base_image_missing_is_found_before_anything_runs(engine, fixture_dir, image_tag, tmp_path):
    result = rebuild(request_for(fixture_dir("base-image-missing"), image_tag), tmp_path / "b.log")
    assert result.failure_class == "base-image-missing"
    assert "nvidia/cuda:12.1.0-devel-ubuntu22.04" in result.evidence
    log = Path(result.log_path).read_text()
    assert "Step 1/" not in log and "RUN echo never runs" not in log.replace("evidence", "")


def test_base_map_substitutes_and_says_so(engine, fixture_dir, image_tag, tmp_path):
    ref = "nvidia/cuda:12.1.0-devel-ubuntu22.04"
    req = request_for(fixture_dir("base-image-missing"), image_tag, base_map={ref: BASE_IMAGE})
    result = rebuild(req, tmp_path / "b.log")
    assert result.status == "built"
    assert result.base_substitutions == [{"ref": ref, "image": BASE_IMAGE, "line": "2"}]
    # The submission's own file is untouched; only the copy sent to the engine changed.
    assert ref in (req.dockerfile).read_text()


def test_buildkit_chosen_automatically_for_run_mount(engine, fixture_dir, image_tag, tmp_path):
    result = rebuild(request_for(fixture_dir("needs-buildkit"), image_tag), tmp_path / "b.log")
    assert (result.status, result.backend) == ("built", "buildkit")
    assert "cached-step-ran" in Path(result.log_path).read_text()


@pytest.mark.parametrize("backend", ["legacy", "buildkit"])
def test_timeout_cancels_and_leaves_nothing_behind(engine, fixture_dir, image_tag, tmp_path,
                                                   backend):
    req = request_for(fixture_dir("timeout"), image_tag, timeout=10, backend=backend)
    result = rebuild(req, tmp_path / "b.log")
    assert result.failure_class == "timeout"
    assert "sleep 613" in result.evidence
    assert "wall-clock limit of 10 s" in result.message
    # Far below the 613 s the step would take: the build was cancelled, not waited for.
    # (Cancel latency is measured by bench/rebuild_bench.py, not asserted here.)
    assert result.duration_s < 120
    leftovers = [c for c in engine.containers(all=True) if "sleep 613" in (c.get("Command") or "")]
    assert leftovers == []
    assert _sleepers() == []
    with pytest.raises(Exception):  # noqa: B017 - no image tagged
        engine.inspect_image(image_tag)


def test_wall_clock_covers_packing_and_upload(engine, fixture_dir, image_tag, tmp_path):
    ctx = fixture_dir("command-failed")
    with open(ctx / "blob.bin", "wb") as fh:  # sparse: cheap to make, 2 GB to pack and send
        fh.truncate(2 * 1024**3)
    result = rebuild(request_for(ctx, image_tag, timeout=1), tmp_path / "b.log")
    assert result.failure_class == "timeout"
    assert "Step 1/" not in Path(result.log_path).read_text()  # cancelled before any step


@pytest.mark.parametrize("backend", ["legacy", "buildkit"])
def test_stall_detector_cancels_a_silent_step(engine, fixture_dir, image_tag, tmp_path, backend):
    req = request_for(fixture_dir("timeout"), image_tag, timeout=300, stall_timeout=4,
                      backend=backend)
    result = rebuild(req, tmp_path / "b.log")
    assert result.failure_class == "timeout"
    assert "stall" in result.message
    assert result.duration_s < 120


def test_buildkit_secret_mount_is_redacted(engine, fixture_dir, image_tag, tmp_path, monkeypatch):
    token = "hf_" + secrets.token_hex(17)
    monkeypatch.setenv("CARPENTER_TEST_TOKEN", token)
    req = request_for(fixture_dir("buildkit-secret"), image_tag,
                      secrets=[SecretSpec(id="hf_token", env="CARPENTER_TEST_TOKEN")],
                      no_cache=True)  # BuildKit's cache ignores secret values
    result = rebuild(req, tmp_path / "b.log")
    assert (result.status, result.backend) == ("built", "buildkit"), result.evidence
    log = Path(result.log_path).read_text()
    assert "token length: 37" in log  # the step really read the mounted secret
    # Masked with its shape kept (`hf_AbCd...(37 chars, sha256:...)`), never in full.
    assert re.search(r"token in build: hf_\w{4}\.\.\.\(37 chars, sha256:[0-9a-f]{12}\)", log)
    assert token not in log and token not in json.dumps(result.to_dict())
    assert "secret not left in the image" in log


def test_ca_bundle_reaches_pip_but_not_the_image(engine, fixture_dir, image_tag, tmp_path):
    ca = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")
    ctx = fixture_dir("ca-bundle")
    plain = rebuild(request_for(ctx, image_tag), tmp_path / "plain.log")
    if plain.status == "built":
        pytest.skip("no TLS-intercepting proxy here: the CA makes no difference")
    if plain.failure_class != "network":
        pytest.skip(f"PyPI unreachable from containers ({plain.failure_class})")
    result = rebuild(request_for(ctx, image_tag, ca_bundle=ca), tmp_path / "ca.log")
    assert result.status == "built", result.evidence
    config = engine.inspect_image(image_tag)["Config"]
    assert not [e for e in config.get("Env") or [] if "/run/carpenter" in e]
    probe = "test -e /run/carpenter/ca.crt && echo present || echo absent"
    out = subprocess.run([docker_cli(), "run", "--rm", "--network", "none", image_tag,
                          "sh", "-c", probe], capture_output=True, text=True).stdout
    assert out.strip() == "absent"


def test_cli_json_failure_and_exit_code(engine, fixture_dir, image_tag, tmp_path):
    ctx = fixture_dir("command-failed")
    done = carpenter("rebuild", str(ctx), "--tag", image_tag, "--format", "json",
                     "--log", str(tmp_path / "cli.log"))
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)["result"]
    assert data["failure_class"] == "command-failed" and data["exit_code"] == 3
    assert data["log_path"] == str(tmp_path / "cli.log")
    assert (tmp_path / "cli.log").is_file()


def test_cli_text_success(engine, fixture_dir, image_tag, tmp_path):
    ctx = fixture_dir("ok-minimal")
    done = carpenter("rebuild", str(ctx), "--tag", image_tag, "--network", "none",
                     "--log", str(tmp_path / "ok.log"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"built {image_tag} sha256:")
    assert "Traceback" not in done.stderr


def test_needs_buildkit_when_cli_has_no_buildkit(engine, fixture_dir, image_tag, tmp_path):
    # A CLI that answers like docker 28 without the buildx plugin (as /usr/local/bin/docker here).
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\nif [ "$1" = version ]; then echo 28.2.2; exit 0; fi\n'
                    'echo "docker: unknown command: docker $1" >&2; exit 1\n')
    fake.chmod(0o755)
    done = carpenter("rebuild", str(fixture_dir("needs-buildkit")), "--tag", image_tag,
                     "--format", "json", env={"CARPENTER_DOCKER_CLI": str(fake)})
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)["result"]
    assert data["failure_class"] == "needs-buildkit"
    assert "RUN --mount" in data["message"] and "buildx" in data["evidence"]


def test_compare_reports_both_sides(engine, fixture_dir, image_tag, tmp_path):
    ctx = fixture_dir("ok-minimal")
    done = carpenter("rebuild", str(ctx), "--compare", "--tag", image_tag, "--network", "none",
                     "--format", "json", "--log", str(tmp_path / "cmp.log"))
    data = json.loads(done.stdout)
    assert data["original"]["status"] == "built"
    assert data["original"]["log_path"] == str(tmp_path / "cmp.original.log")
    if data["fix"]["status"] == "unavailable":
        # `carpenter fix` is not there (or failed): say so, exit 2, no half result.
        assert done.returncode == 2 and data["fixed"] is None and data["fix"]["message"]
    else:
        assert data["fixed"]["tag"] == image_tag + "-fixed"
        assert data["fixed"]["log_path"] == str(tmp_path / "cmp.fixed.log")
        assert done.returncode == (0 if data["fixed"]["status"] == "built" else 1)
        if data["fixed"]["status"] == "built":
            diff = data["pip_freeze_diff"]
            expected_only = sorted(set(data["original"]["pip_freeze"])
                                   - set(data["fixed"]["pip_freeze"]))
            assert diff["only_original"] == expected_only




@pytest.mark.parametrize("backend", ["legacy", "buildkit"])
def test_sigterm_cancels_the_build(engine, fixture_dir, image_tag, tmp_path, backend):
    import sys
    import time

    log = tmp_path / "term.log"
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "carpenter.cli", "rebuild", str(fixture_dir("timeout")),
         "--tag", image_tag, "--backend", backend, "--timeout", "300", "--log", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    part = log.with_name(log.name + ".part")
    for _ in range(600):  # until the long step is running (at most 60 s)
        if part.exists() and "starting a long step" in part.read_text():
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the long step never started")
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    for _ in range(100):  # the engine finishes its own cleanup asynchronously
        if not _sleepers():
            break
        time.sleep(0.1)
    assert _sleepers() == []
    with pytest.raises(Exception):  # noqa: B017 - nothing tagged
        engine.inspect_image(image_tag)
