"""Issue 14: folder discovery finds every Dockerfile naming seen in real submissions."""

from __future__ import annotations

import pytest

from carpenter.scan.engine import discover, is_dockerfile_name

FOUND = ["Dockerfile", "dockerfile", "Dockerfile1", "Dockerfile_2", "Dockerfile-base",
         "Dockerfile.train", "train.Dockerfile", "serve.dockerfile", "Containerfile",
         "Dockerfile.cuda118"]
NOT_FOUND = ["Dockerfile.md", ".dockerignore", "Dockerfile.dockerignore", "dockerfile.py",
             "Dockerfiles", "build_dockerfile.sh", "README.md", "Dockerfile.j2", "mydockerfile"]


@pytest.mark.parametrize("name", FOUND)
def test_dockerfile_names(name: str) -> None:
    assert is_dockerfile_name(name)


@pytest.mark.parametrize("name", NOT_FOUND)
def test_not_dockerfile_names(name: str) -> None:
    assert not is_dockerfile_name(name)


def test_folder_discovery_finds_them(tmp_path) -> None:
    for name in FOUND + NOT_FOUND:
        (tmp_path / name).write_text("FROM python:3.11\n")
    found, errors = discover([str(tmp_path)])
    assert not errors
    assert sorted(p.rsplit("/", 1)[-1] for p in found) == sorted(FOUND)
