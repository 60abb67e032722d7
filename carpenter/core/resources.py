"""Where Carpenter's data lives: `carpenter/data/`, shipped inside the package.

Read through importlib.resources so a wheel, a pipx or pre-commit install and the editable
checkout all find the same files. CARPENTER_DATA_DIR points at another copy (tests, people
editing rules); the older CARPENTER_RULES_DIR name is still read.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


def data_dir() -> Path:
    override = os.environ.get("CARPENTER_DATA_DIR") or os.environ.get("CARPENTER_RULES_DIR")
    if override:
        return Path(override)
    return _packaged()


@lru_cache(maxsize=1)
def _packaged() -> Path:
    # Carpenter is installed as plain files (never zipped: its harness is mounted into
    # containers), so the traversable is a real folder: the package's own folder answers
    # without importing importlib.resources (and its tempfile, random, zipfile: ~5 ms of a
    # cold scan).
    import carpenter

    for folder in getattr(carpenter, "__path__", ()):
        if os.path.isdir(os.path.join(folder, "data")):
            return Path(folder) / "data"
    from importlib.resources import files

    return Path(str(files("carpenter") / "data"))
