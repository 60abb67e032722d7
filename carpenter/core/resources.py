"""Where Carpenter's data lives: `carpenter/data/`, shipped inside the package.

Read through importlib.resources so a wheel, a pipx or pre-commit install and the editable
checkout all find the same files. CARPENTER_DATA_DIR points at another copy (tests, people
editing rules); the older CARPENTER_RULES_DIR name is still read.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib.resources import files
from pathlib import Path


def data_dir() -> Path:
    override = os.environ.get("CARPENTER_DATA_DIR") or os.environ.get("CARPENTER_RULES_DIR")
    if override:
        return Path(override)
    return _packaged()


@lru_cache(maxsize=1)
def _packaged() -> Path:
    # Carpenter is installed as plain files (never zipped: its harness is mounted into
    # containers), so the traversable is a real folder.
    return Path(str(files("carpenter") / "data"))
