"""Where Carpenter's files live: its data (`carpenter/data/`, shipped inside the package) and
its caches.

Read through importlib.resources so a wheel, a pipx or pre-commit install and the editable
checkout all find the same files. CARPENTER_DATA_DIR points at another copy (tests, people
editing rules); the older CARPENTER_RULES_DIR name is still read.

`data_file(name)` is the scan path's form: a string, so a cold scan imports neither pathlib
(with fnmatch, ntpath, urllib.parse and ipaddress: ~3 ms) nor importlib.resources.

Caches (the scan's result cache, the compiled-pattern cache) share one folder,
`default_cache_dir()`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def data_dir() -> Path:
    from pathlib import Path

    return Path(data_folder())


def data_folder() -> str:
    """The data folder as given (not normalised: `data_dir()` is its Path)."""
    override = os.environ.get("CARPENTER_DATA_DIR") or os.environ.get("CARPENTER_RULES_DIR")
    return override or _packaged()


def data_file(*parts: str) -> str:
    """`str(data_dir().joinpath(*parts))`, without pathlib for a normalised folder (the
    packaged one, or a plain override): the same text, so error messages do not change."""
    folder = data_folder()
    if os.path.normpath(folder) != folder:  # `./data`, `data/`, `a//b`: Path rewrites them
        return str(data_dir().joinpath(*parts))
    return os.path.join(folder, *parts)


@lru_cache(maxsize=1)
def _packaged() -> str:
    # Carpenter is installed as plain files (never zipped: its harness is mounted into
    # containers), so the traversable is a real folder: the package's own folder answers
    # without importing importlib.resources (and its tempfile, random, zipfile: ~5 ms of a
    # cold scan).
    import carpenter

    for folder in getattr(carpenter, "__path__", ()):
        if os.path.isdir(os.path.join(folder, "data")):
            return os.path.join(folder, "data")
    from importlib.resources import files

    return str(files("carpenter") / "data")


def default_cache_dir() -> str | None:
    """CARPENTER_CACHE_DIR, else $XDG_CACHE_HOME/carpenter or ~/.cache/carpenter;
    None when CARPENTER_NO_CACHE is set."""
    if os.environ.get("CARPENTER_NO_CACHE"):
        return None
    if os.environ.get("CARPENTER_CACHE_DIR"):
        return os.environ["CARPENTER_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "carpenter")
