"""Data-driven helpers: CUDA package facts, image environments, downloads, the HTTP contract."""

from __future__ import annotations

import pytest

from carpenter.model.dockerfile import parse_dockerfile
from carpenter.model.source import SourceFile
from carpenter.scan.contract import find_server, routes, script_binding, start_instruction
from carpenter.scan.cuda import (
    ImageEnv,
    cuda_data,
    image_env,
    package_for_url,
    package_named,
    prebuilt_for,
    wheel_url,
)
from carpenter.scan.downloads import hub_calls, url_concern


def dockerfile(text: str):
    return parse_dockerfile(SourceFile("Dockerfile", text))


def test_every_package_has_cost_and_alternative() -> None:
    data = cuda_data()
    assert len(data.packages) >= 15
    for package in data.packages:
        low, high = package.build_minutes
        assert 0 < low <= high and package.alternative and package.pypi in (
            "wheels", "sdist", "wrong", "none")


@pytest.mark.parametrize(("key", "name"), [
    ("flash_attn", "flash-attn"), ("Flash-Attn", "flash-attn"), ("torch_sparse", "torch-scatter"),
])
def test_package_names_and_aliases(key: str, name: str) -> None:
    assert package_named(key).name == name


@pytest.mark.parametrize(("url", "name"), [
    ("git+https://github.com/Dao-AILab/flash-attention.git@v2.3.3", "flash-attn"),
    ("https://github.com/NVIDIA/apex", "apex"),
    ("git@github.com:state-spaces/mamba.git", "mamba-ssm"),
    ("https://github.com/example/other", None),
])
def test_packages_from_repository_urls(url: str, name: str | None) -> None:
    package = package_for_url(url)
    assert (package.name if package else None) == name


def test_image_environment_from_base_and_torch_pins() -> None:
    df = dockerfile("FROM pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel\nRUN echo\n")
    env = image_env(df.instructions[-1])
    assert (env.torch, env.cuda, env.python, env.flavour) == ("2.1", "12.1", "3.10", "devel")
    df = dockerfile("FROM nvidia/cuda:11.8.0-runtime-ubuntu20.04\n"
                    "RUN pip install torch==2.0.1 --index-url https://download.pytorch.org/whl/cu118\n"
                    "RUN echo\n")
    env = image_env(df.instructions[-1])
    assert (env.torch, env.cuda, env.python, env.flavour) == ("2.0", "11.8", "3.8", "runtime")


def test_prebuilt_lookup_and_wheel_url() -> None:
    flash = package_named("flash-attn")
    env = ImageEnv(torch="2.1", cuda="12.1", python="3.10")
    assert prebuilt_for(flash, "2.3.3", env) is True
    assert prebuilt_for(flash, "2.3.3", ImageEnv(torch="2.4", cuda="12.1", python="3.10")) is False
    assert prebuilt_for(flash, "2.3.3", ImageEnv(cuda="12.1")) is None
    url = wheel_url(flash, "2.3.3", env)
    assert url.endswith("flash_attn-2.3.3+cu122torch2.1cxx11abiFALSE-cp310-cp310-linux_x86_64.whl")
    assert prebuilt_for(package_named("apex"), None, env) is False


@pytest.mark.parametrize(("url", "concern"), [
    ("https://huggingface.co/org/m/resolve/main/model.bin", True),
    ("https://huggingface.co/org/m/resolve/" + "a" * 40 + "/model.bin", False),
    ("https://raw.githubusercontent.com/o/r/main/x.sh", True),
    ("https://github.com/o/r/releases/download/v1.0/x.tgz", False),
    ("https://example.org/file.txt", False),
    ("https://drive.google.com/uc?id=abc", True),
])
def test_url_concerns(url: str, concern: bool) -> None:
    assert (url_concern(url) is not None) is concern


def test_hub_calls_need_a_commit_revision() -> None:
    code = ('snapshot_download(repo_id="org/a")\n'
            'AutoModel.from_pretrained("org/b", revision="main")\n'
            f'AutoModel.from_pretrained("org/c", revision="{"c" * 40}")\n'
            'AutoModel.from_pretrained("./local")\n'
            'AutoModel.from_pretrained(path)\n')
    calls = hub_calls(code)
    assert [(c.repo, c.pinned) for c in calls] == [("org/a", False), ("org/b", False),
                                                   ("org/c", True)]


@pytest.mark.parametrize(("cmd", "kind", "host", "port"), [
    ('CMD ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "80"]', "uvicorn", "0.0.0.0", 80),
    ("CMD uvicorn main:app", "uvicorn", "127.0.0.1", 8000),
    ('CMD ["gunicorn", "-b", "0.0.0.0:80", "main:app"]', "gunicorn", "0.0.0.0", 80),
    ('ENTRYPOINT ["fastapi", "run", "main.py"]', "fastapi run", "0.0.0.0", 8000),
    ("CMD flask run --host=0.0.0.0 --port=80", "flask run", "0.0.0.0", 80),
    ('CMD ["python", "-m", "uvicorn", "app:app", "--port", "80"]', "uvicorn", "127.0.0.1", 80),
])
def test_server_recognition(cmd: str, kind: str, host: str, port: int) -> None:
    df = dockerfile(f"FROM python:3.11\n{cmd}\n")
    server = find_server(start_instruction(df.stages[-1]))
    assert (server.kind, server.host, server.port) == (kind, host, port)


def test_cmd_sees_env_not_build_args() -> None:
    df = dockerfile("FROM python:3.11\nARG PORT=80\nCMD uvicorn main:app --port $PORT\n")
    assert find_server(start_instruction(df.stages[-1])).port is None
    df = dockerfile("FROM python:3.11\nENV PORT=80\nCMD uvicorn main:app --port $PORT\n")
    assert find_server(start_instruction(df.stages[-1])).port == 80


def test_routes_and_bindings_from_code() -> None:
    code = ('@app.post("/process")\ndef p(): ...\n'
            '@router.api_route("/tokenize", methods=["POST", "GET"])\ndef t(): ...\n'
            '@bp.route("/decode")\ndef d(): ...\n'
            'uvicorn.run(app, host="0.0.0.0", port=PORT)\nPORT = int(os.environ.get("PORT", 80))\n')
    assert routes(code) == {"/process": {"POST"}, "/tokenize": {"POST", "GET"},
                            "/decode": {"GET"}}
    assert script_binding(code) == ("0.0.0.0", 80, True)
