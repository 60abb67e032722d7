"""Requirements files are read from the build context only, the way Docker would send them."""

from __future__ import annotations

import os
from pathlib import Path

from carpenter.scan.config import ScanConfig
from carpenter.scan.engine import ScanOptions, scan_paths

DOCKERFILE = "FROM python:3.10\nCOPY requirements.txt /r.txt\nRUN pip install -r /r.txt\n"


def scan(folder: Path, context: str | None = None) -> set[tuple[str, str, int]]:
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        options = ScanOptions(config=ScanConfig(select=("PIP",)), context=context)
        report = scan_paths(["Dockerfile"], options)
    finally:
        os.chdir(cwd)
    assert not report.errors, report.errors
    return {(f.rule, f.path, f.line) for f in report.findings}


def test_symlink_leaving_the_context_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("leakedpkg\n")
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (folder / "requirements.txt").symlink_to(outside)
    assert scan(folder) == set()


def test_symlink_inside_the_context_is_read(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "deps.txt").write_text("peft\n")
    (tmp_path / "requirements.txt").symlink_to(tmp_path / "deps.txt")
    assert scan(tmp_path) == {("PIP002", "requirements.txt", 1)}


def test_context_option_names_the_folder_copies_come_from(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "requirements.txt").write_text("torch==2.1.0\ntransformers\n")
    assert scan(tmp_path / "docker") == set()  # its own folder has no requirements.txt
    assert scan(tmp_path / "docker", context="..") == {("PIP002", "../requirements.txt", 2)}
