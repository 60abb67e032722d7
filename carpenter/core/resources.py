"""Where Carpenter's files live: its data (`carpenter/data/`, shipped inside the package) and
its caches.

Data is read through importlib.resources so a wheel, a pipx or pre-commit install and the
editable checkout all find the same files. CARPENTER_DATA_DIR points at another copy (tests,
people editing rules); the older CARPENTER_RULES_DIR name is still read.

Caches (the scan's result cache, the compiled-pattern cache) share one folder,
`default_cache_dir()`.
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


def default_cache_dir() -> str | None:
    """CARPENTER_CACHE_DIR, else $XDG_CACHE_HOME/carpenter or ~/.cache/carpenter;
    None when CARPENTER_NO_CACHE is set."""
    if os.environ.get("CARPENTER_NO_CACHE"):
        return None
    if os.environ.get("CARPENTER_CACHE_DIR"):
        return os.environ["CARPENTER_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "carpenter")
