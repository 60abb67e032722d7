"""`snapshot create`: isolation from host pip/uv configuration, parsing, a real resolution."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from carpenter.core.errors import SnapshotError
from carpenter.snapshot.create import (
    CreateRequest,
    create_snapshot,
    cutoff_of,
    isolated_env,
    parse_pins,
    read_requirements,
    resolve,
    uv_command,
)


def test_date_means_end_of_that_day_utc():
    assert cutoff_of("2023-10-25").isoformat() == "2023-10-26T00:00:00+00:00"
    assert cutoff_of("2023-10-25T12:00:00Z").isoformat() == "2023-10-25T12:00:00+00:00"
    with pytest.raises(SnapshotError):
        cutoff_of("yesterday")


def test_isolated_env_drops_every_pip_and_uv_setting():
    host = {"PIP_FIND_LINKS": "/opt/wheels", "PIP_EXTRA_INDEX_URL": "file:///opt/pypi/simple",
            "PIP_CONSTRAINT": "/etc/c.txt", "UV_INDEX_URL": "file:///x", "UV_FIND_LINKS": "/w",
            "UV_CONFIG_FILE": "/etc/uv.toml", "HOME": "/root", "SSL_CERT_FILE": "/ca.pem",
            "UV_NATIVE_TLS": "1"}
    env = isolated_env(host)
    leaked = {k for k in env if k.startswith(("PIP_", "UV_"))} - {
        "UV_NO_CONFIG", "UV_PYTHON_DOWNLOADS", "PIP_CONFIG_FILE", "PIP_NO_INPUT",
        "UV_NATIVE_TLS"}
    assert not leaked
    assert env["UV_NO_CONFIG"] == "1" and env["PIP_CONFIG_FILE"] == os.devnull
    assert env["SSL_CERT_FILE"] == "/ca.pem"  # the proxy CA must still be trusted
    assert env["UV_NATIVE_TLS"] == "1"


def test_uv_command_names_the_index_and_cut_off(tmp_path):
    req = CreateRequest(as_of="2023-10-25", requirements=["torch"], python="3.11",
                        platform="linux/amd64")
    cmd = uv_command(req, tmp_path / "x.in", "uv")
    assert cmd[cmd.index("--index-url") + 1] == "https://pypi.org/simple"
    assert cmd[cmd.index("--exclude-newer") + 1] == "2023-10-26T00:00:00Z"
    assert cmd[cmd.index("--python-platform") + 1] == "x86_64-unknown-linux-gnu"
    assert "--no-config" in cmd


def test_parse_pins_reads_compile_output():
    text = "# header\ntorch==2.1.0\n    # via x\ndatasets[audio]==2.14.6 ; python_version > '3'\n"
    assert parse_pins(text) == {"torch": "2.1.0", "datasets": "2.14.6"}


def test_read_requirements_reports_bad_lines(tmp_path):
    good = tmp_path / "a.in"
    good.write_text("# c\ntorch  # comment\n-c other.txt\n\npeft>=0.5\n")
    assert read_requirements(good) == ["torch", "peft>=0.5"]
    bad = tmp_path / "b.in"
    bad.write_text("torch\nnot a requirement!!\n")
    with pytest.raises(SnapshotError) as info:
        read_requirements(bad)
    assert info.value.line == 2


def test_resolver_failure_is_a_snapshot_error(monkeypatch):
    def failing(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "No solution found\n  because x")
    with pytest.raises(SnapshotError, match="No solution found"):
        resolve(CreateRequest(as_of="2023-10-25", requirements=["x"]), runner=failing)


def test_the_resolver_runs_with_the_isolated_environment(monkeypatch):
    seen = {}

    def fake(cmd, **kwargs):
        seen.update(kwargs)
        return subprocess.CompletedProcess(cmd, 0, "torch==2.1.0\n", "")
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    monkeypatch.setenv("UV_FIND_LINKS", "/opt/wheels")
    pins, _ = resolve(CreateRequest(as_of="2023-10-25", requirements=["torch"]), runner=fake)
    assert pins == {"torch": "2.1.0"}
    assert "PIP_FIND_LINKS" not in seen["env"] and "UV_FIND_LINKS" not in seen["env"]
    assert not list(Path(seen["cwd"]).glob("*.toml"))  # nothing that could configure uv


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _pypi_reachable(), reason="needs network access to PyPI")
def test_real_resolution_ignores_local_wheels_and_configs(tmp_path, monkeypatch):
    """Local wheel folders, file:// indexes and uv/pip configs carry no upload times and would
    leak a newer torch into a 2023 snapshot; with isolation only PyPI's 2023 files count."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "torch-9.9.9-py3-none-any.whl").write_bytes(b"not a wheel")
    (tmp_path / "uv.toml").write_text(f'find-links = ["{wheels}"]\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("UV_FIND_LINKS", str(wheels))
    monkeypatch.setenv("UV_EXTRA_INDEX_URL", f"file://{wheels}")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    snap = create_snapshot(CreateRequest(as_of="2023-10-25", requirements=["torch"],
                                         latest_only=["flash-attn"], python="3.10"))
    assert snap.pypi["torch"] == "2.1.0"
    assert snap.pypi["flash-attn"] == "2.3.3"
    assert snap.pypi["nvidia-cudnn-cu12"] == "8.9.2.26"
    assert snap.provenance["upload_times_verified"] is True


@pytest.mark.skipif(not _pypi_reachable(), reason="needs network access to PyPI")
def test_cli_create_writes_a_loadable_snapshot(tmp_path):
    out = tmp_path / "snap.toml"
    done = subprocess.run(
        [sys.executable, "-m", "carpenter.cli", "snapshot", "create", "--as-of", "2023-10-15",
         "tokenizers", "--python", "3.10", "--out", str(out)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    from carpenter.snapshot.model import load_snapshot
    snap = load_snapshot(out)
    assert snap.pypi["tokenizers"] == "0.14.1"  # pinning.md: 0.14.1 was uploaded 2023-10-06
    assert snap.pypi["huggingface-hub"] == "0.17.3"
    assert "snapshot create --as-of 2023-10-15" in snap.provenance["created_with"]
