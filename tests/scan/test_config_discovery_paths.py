"""Config discovery walks text paths (no pathlib on a typical scan) with pathlib's answers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from carpenter.scan import config


def _pathlib_upwards(start: Path) -> list[tuple[str, str]]:
    return [(str(f / ".carpenter.toml"), str(f / "pyproject.toml"))
            for f in (start, *start.parents)]


@pytest.mark.parametrize("start", ["/", "/a", "/a/b/c", "//net/share", "/a/./b", "/a//b",
                                   "/a/../b", "a/b", ".", "./a", "/a/b/"])
def test_the_walk_is_pathlibs(start: str) -> None:
    assert config._upwards(start) == _pathlib_upwards(Path(start))
    assert config._upwards(Path(start)) == _pathlib_upwards(Path(start))


def test_is_file_answers_as_pathlib(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    for name in ("file", "folder", "missing", "file/below", "loop", "link", "nul\0byte"):
        path = tmp_path / name
        assert config._is_file(str(path)) == path.is_file(), name


def test_is_file_raises_what_pathlib_raises(tmp_path: Path) -> None:
    long = str(tmp_path / ("x" * (os.pathconf(tmp_path, "PC_NAME_MAX") + 10)))
    with pytest.raises(OSError) as ours:
        config._is_file(long)
    with pytest.raises(OSError) as theirs:
        Path(long).is_file()
    assert ours.value.errno == theirs.value.errno


def test_found_files_are_paths(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".carpenter.toml").write_text("")
    found = config.find_config_file(str(tmp_path / "a" / "b"))
    assert found == tmp_path / ".carpenter.toml" and isinstance(found, Path)
    assert config.find_config_file(tmp_path / "a") == found
