"""core.resources finds the packaged data without importing importlib.resources (issue 14),
and agrees with it; `data_file` is `data_dir().joinpath(...)` as text, without pathlib."""

from __future__ import annotations

import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest

from carpenter.core import resources

ROOT = Path(resources.__file__).resolve().parents[2]


def test_packaged_data_is_importlib_resources_folder() -> None:
    resources._packaged.cache_clear()
    assert Path(resources._packaged()) == Path(str(files("carpenter") / "data"))
    assert (resources.data_dir() / "secrets.toml").is_file()


def test_data_dir_does_not_import_importlib_resources() -> None:
    code = ("import sys\nfrom carpenter.core.resources import data_dir\n"
            "assert (data_dir() / 'cuda_extensions.toml').is_file()\n"
            "assert 'importlib.resources' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(ROOT)})


def test_data_file_imports_no_pathlib() -> None:
    # -S: site's .pth files (an editable install's finder) would import pathlib themselves.
    code = ("import os, sys\nfrom carpenter.core.resources import data_file\n"
            "assert os.path.isfile(data_file('secrets.toml'))\n"
            "assert 'pathlib' not in sys.modules and 'importlib.resources' not in sys.modules\n")
    subprocess.run([sys.executable, "-S", "-c", code], check=True, env={"PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("override", [
    None, "/abs/data", "relative/data", "./data", "data/", "/a//b", "/a/./b", "/a/../b", "/",
    "//net/data",
])
def test_data_file_is_the_text_of_data_dir_joinpath(monkeypatch, override: str | None) -> None:
    """Error messages and compile origins name this path: it must print as before."""
    monkeypatch.delenv("CARPENTER_RULES_DIR", raising=False)
    if override is None:
        monkeypatch.delenv("CARPENTER_DATA_DIR", raising=False)
    else:
        monkeypatch.setenv("CARPENTER_DATA_DIR", override)
    for parts in (("secrets.toml",), ("profiles", "neurips.toml")):
        assert resources.data_file(*parts) == str(resources.data_dir().joinpath(*parts))
