"""Pre-flight, Dockerfile preparation and the log sink with a fake engine client."""

from __future__ import annotations

from pathlib import Path

import pytest

from carpenter.core.errors import ConfigError
from carpenter.rebuild.interface import BuildRequest, LogSink, SecretSpec
from carpenter.rebuild.preflight import (
    CA_TARGET,
    choose_backend,
    prepare_dockerfile,
    run_preflight,
    secret_files,
)


class FakeClient:
    """Knows a fixed set of local images; the registry knows nothing."""

    def __init__(self, local: set[str]) -> None:
        self.local = local

    def inspect_image(self, ref: str) -> dict:
        from docker.errors import ImageNotFound

        if ref not in self.local:
            raise ImageNotFound(f"No such image: {ref}")
        return {"Id": "sha256:" + "0" * 64}

    def inspect_distribution(self, ref: str) -> dict:
        from docker.errors import APIError

        raise APIError("registry unreachable: lookup registry-1.docker.io: no such host")


def request(tmp_path: Path, text: str, **kw) -> BuildRequest:
    df = tmp_path / "Dockerfile"
    df.write_text(text)
    return BuildRequest(context=tmp_path, dockerfile=df, tag="t:1", **kw)


def test_base_image_missing_names_the_stage(tmp_path):
    req = request(tmp_path, "ARG CUDA=12.1\nFROM nvidia/cuda:${CUDA}-devel AS build\n"
                  "FROM build\nRUN true\n")
    pre = run_preflight(req, FakeClient(set()), None)
    assert pre.failure is not None
    cls, message, evidence = pre.failure
    assert cls == "base-image-missing"
    assert "nvidia/cuda:12.1-devel" in message and "line 2" in message
    assert evidence.endswith(":2: FROM nvidia/cuda:${CUDA}-devel")


def test_unset_arg_in_from_is_reported(tmp_path):
    req = request(tmp_path, "ARG BASE\nFROM ${BASE}\n")
    pre = run_preflight(req, FakeClient(set()), None)
    assert pre.failure[0] == "base-image-missing" and "--build-arg" in pre.failure[1]


def test_base_map_rewrites_only_the_reference(tmp_path):
    text = "ARG V=12.1\nFROM --platform=linux/amd64 nvidia/cuda:${V} AS gpu\nRUN nvcc --version\n"
    req = request(tmp_path, text, base_map={"nvidia/cuda:12.1": "local/standin:1"})
    pre = run_preflight(req, FakeClient({"local/standin:1"}), None)
    assert pre.failure is None
    assert pre.substitutions == [{"ref": "nvidia/cuda:12.1", "image": "local/standin:1",
                                  "line": "2"}]
    (tmp_path / "out").mkdir()
    out = prepare_dockerfile(pre, tmp_path / "out")
    assert out.read_text() == text.replace("nvidia/cuda:${V}", "local/standin:1")
    assert req.dockerfile.read_text() == text  # the submission's file is untouched


def test_ca_bundle_mounts_into_shell_runs_only(tmp_path):
    text = ('FROM base\nRUN pip install six \\\n    && echo done\nRUN ["python", "-V"]\n'
            "COPY . /app\n")
    req = request(tmp_path, text, ca_bundle=tmp_path / "ca.pem")
    pre = run_preflight(req, FakeClient({"base"}), None)
    assert pre.backend == "buildkit"
    (tmp_path / "w").mkdir()
    lines = prepare_dockerfile(pre, tmp_path / "w").read_text().splitlines()
    assert len(lines) == len(text.splitlines())  # line numbers stay valid for evidence
    assert lines[1].startswith("RUN --mount=type=secret,id=carpenter_ca,target=" + CA_TARGET)
    assert lines[1].endswith("; pip install six \\")
    assert f"PIP_CERT={CA_TARGET}" in lines[1]
    assert lines[3] == 'RUN ["python", "-V"]'
    assert any("exec-form" in note for note in pre.notes)


def test_backend_choice():
    plain = BuildRequest(context=Path("."), dockerfile=Path("D"), tag="t")
    assert choose_backend(plain, [], None)[0] == "legacy"
    backend, why, failure = choose_backend(plain, ["RUN --mount (line 3)"], None)
    assert (backend, failure) == ("buildkit", None) and "RUN --mount" in why
    _, _, failure = choose_backend(plain, ["heredoc (line 2)"], "no buildx")
    assert failure[0] == "needs-buildkit" and "no buildx" in failure[2]
    with_secret = BuildRequest(context=Path("."), dockerfile=Path("D"), tag="t", backend="legacy",
                               secrets=[SecretSpec("a", env="B")])
    with pytest.raises(ConfigError):
        choose_backend(with_secret, [], None)


def test_env_secret_file_is_private(tmp_path, monkeypatch):
    monkeypatch.setenv("CARPENTER_UNIT_SECRET", "s3cret-value")
    files, values = secret_files([SecretSpec("tok", env="CARPENTER_UNIT_SECRET")], tmp_path)
    path = Path(files["tok"])
    assert path.read_text() == "s3cret-value" and values == ["s3cret-value"]
    assert path.stat().st_mode & 0o777 == 0o600


def test_log_sink_redacts_and_renames(tmp_path):
    log = tmp_path / "logs" / "b.log"
    sink = LogSink(log, ["s3cret-value"])
    sink.write("token hf_" + "A" * 34 + "\npassword=s3cret-value\npartial")
    assert (tmp_path / "logs" / "b.log.part").exists() and not log.exists()
    sink.write(" line\r\n\x1b[31mred\x1b[0m\n")
    sink.close()
    text = log.read_text()
    assert "A" * 34 not in text and "hf_AAAA..." in text
    assert "s3cret-value" not in text and "password=***(sha256:" in text
    assert text.splitlines()[2:] == ["partial line", "red"]
    assert [n for n, _ in sink.lines] == [1, 2, 3, 4]


def test_notes_for_what_the_build_cannot_honour(tmp_path):
    req = request(tmp_path, "FROM base\nRUN --mount=type=cache,target=/c true\n",
                  memory=512 * 1024**2, base_map={"other/image:1": "base"})
    pre = run_preflight(req, FakeClient({"base"}), None)
    assert pre.backend == "buildkit" and pre.failure is None
    assert any("--memory is not enforced by BuildKit" in note for note in pre.notes)
    assert any("--base-map other/image:1: no FROM uses this image" in note for note in pre.notes)
    assert pre.substitutions == []
