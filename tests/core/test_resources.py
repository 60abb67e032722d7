"""core.resources finds the packaged data without importing importlib.resources (issue 14),
and agrees with it."""

from __future__ import annotations

import subprocess
import sys
from importlib.resources import files
from pathlib import Path

from carpenter.core import resources


def test_packaged_data_is_importlib_resources_folder() -> None:
    resources._packaged.cache_clear()
    assert resources._packaged() == Path(str(files("carpenter") / "data"))
    assert (resources._packaged() / "secrets.toml").is_file()


def test_data_dir_does_not_import_importlib_resources() -> None:
    code = ("import sys\nfrom carpenter.core.resources import data_dir\n"
            "assert (data_dir() / 'cuda_extensions.toml').is_file()\n"
            "assert 'importlib.resources' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(
        Path(resources.__file__).resolve().parents[2])})
