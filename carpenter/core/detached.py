"""One module of a third-party package, loaded from its file without running its package.

A cold scan needs a single self-contained module of two packages whose `__init__` imports far
more: tree-sitter-bash's compiled grammar (its `__init__` imports importlib.resources, with
tempfile, shutil, bz2, lzma and random, for a highlighting query) and the docker SDK's
`.dockerignore` glob translation (`docker/__init__` imports requests, urllib3, pathlib,
ssl...: tens of ms). `load_detached` finds the module exactly as `import` would (sys.meta_path,
then each package's search path, without executing the packages) and runs only its file.

Only for a module whose own imports are absolute and cheap (a C extension, or a pure-Python
file importing the standard library): its package is not imported, so a relative import in it
would fail. The module is not put in sys.modules: the package's ordinary import, if something
does it later, loads its own copy. None when the module is not a plain file on disk (a zipped
or frozen install): the caller then imports it the ordinary way.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import ModuleType


def load_detached(name: str) -> ModuleType | None:
    """Module `name` (`package.module`, dotted) run from its file, its packages left unrun."""
    from importlib.machinery import ExtensionFileLoader, SourceFileLoader

    spec = _find_spec(name)
    if spec is None or not isinstance(spec.loader, ExtensionFileLoader | SourceFileLoader):
        return None
    from importlib.util import module_from_spec

    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _find_spec(name: str) -> ModuleSpec | None:
    """The spec `import name` would use, found level by level without running a package."""
    spec = None
    parts = name.split(".")
    for depth in range(1, len(parts) + 1):
        where = None if spec is None else spec.submodule_search_locations
        if spec is not None and not where:
            return None  # a parent that is a module, not a package
        spec = _ask_finders(".".join(parts[:depth]), where)
        if spec is None:
            return None
    return spec


def _ask_finders(name: str, path: list[str] | None) -> ModuleSpec | None:
    """The first answer of sys.meta_path, as the import system asks it."""
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        spec = find(name, path) if find is not None else None
        if spec is not None:
            return spec
    return None
