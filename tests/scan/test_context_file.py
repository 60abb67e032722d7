"""ScanContext.context_file never reads outside the build context (any rule, any path)."""

from __future__ import annotations

import os
from pathlib import Path

from carpenter.model.dockerfile import load_dockerfile
from carpenter.scan.config import ScanConfig
from carpenter.scan.context import ScanContext


def _ctx(tmp_path: Path) -> ScanContext:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\n")
    (context / "app.py").write_text("print('inside')\n")
    (tmp_path / "host-secret.txt").write_text("outside\n")
    os.symlink(tmp_path / "host-secret.txt", context / "link.txt")
    dockerfile = load_dockerfile(str(context / "Dockerfile"))
    return ScanContext(dockerfile, str(context), ScanConfig())


def test_reads_files_inside_the_context(tmp_path: Path) -> None:
    source = _ctx(tmp_path).context_file("app.py")
    assert source is not None and "inside" in source.text


def test_refuses_symlink_leading_outside(tmp_path: Path) -> None:
    assert _ctx(tmp_path).context_file("link.txt") is None


def test_refuses_dotdot_paths(tmp_path: Path) -> None:
    assert _ctx(tmp_path).context_file("../host-secret.txt") is None
