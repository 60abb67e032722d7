"""carpenter.containers is the only Docker client: no other module imports the docker SDK."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "carpenter"
OWNER = PACKAGE / "containers.py"
# Docker's own .dockerignore pattern translation is not a client (no engine is reached):
# model/dockerignore.py uses it so scan agrees with `docker build` on what the context holds.
PATTERN_HELPERS = ("docker.utils.fnmatch", "docker.utils.build")


def docker_imports(path: Path) -> list[str]:
    """`file:line` of every import of the docker SDK in `path`, at any depth (functions too)."""
    hits = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        if any((n == "docker" or n.startswith("docker.")) and n not in PATTERN_HELPERS
               for n in names):
            hits.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return hits


def test_only_carpenter_containers_imports_the_docker_sdk() -> None:
    # The harness runs inside the image, not on the host: it is not Carpenter's client.
    files = [p for p in PACKAGE.rglob("*.py") if p != OWNER and "harness" not in p.parts]
    assert [hit for path in files for hit in docker_imports(path)] == []
    assert docker_imports(OWNER), "carpenter/containers.py should be where the SDK is used"


@pytest.mark.parametrize("code", ["import docker\n", "def f():\n    from docker.errors import X\n",
                                  "import docker.utils as u\n"])
def test_the_check_sees_every_import_form(tmp_path: Path, code: str) -> None:
    probe = PACKAGE / "_docker_probe_tmp.py"
    probe.write_text(code, encoding="utf-8")
    try:
        assert docker_imports(probe)
    finally:
        probe.unlink()


def test_dockerfile_parser_package_is_not_mistaken_for_the_sdk(tmp_path: Path) -> None:
    probe = PACKAGE / "_docker_probe_tmp.py"
    probe.write_text("import dockerfile as _bk\nfrom carpenter.model.dockerfile import X\n",
                     encoding="utf-8")
    try:
        assert docker_imports(probe) == []
    finally:
        probe.unlink()
