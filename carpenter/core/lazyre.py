"""Regular expressions compiled on first use.

A cold `carpenter scan` is one short process, and `re.compile` costs it about as much as the
scan itself: every module-level pattern and every pattern of the data files (secret shapes,
CUDA facts) is parsed at import, although a typical submission exercises a minority of them
(a token shape is only searched when its literal prefix is in the text; conda patterns only
when the Dockerfile runs conda). `lazy_compile` returns an object that compiles on the first
method call and then binds the compiled pattern's methods onto itself, so later calls cost
exactly what a compiled pattern's do. The compile goes through `core.patterncache`: a pattern
parsed by an earlier process is read back instead of parsed again.

It stands in for a `re.Pattern` wherever the code calls the pattern's methods (`search`,
`finditer`, `sub`, ...) or reads `.pattern`; it is not a `re.Pattern` instance, so it must not
be handed to `re.search(pattern, ...)`-style functions (they want a string or a compiled
pattern): call the method instead.
"""

from __future__ import annotations

import re
from typing import Any, cast

from carpenter.core.errors import ConfigError
from carpenter.core.patterncache import compile_cached

# The compiled pattern's methods, bound onto the stand-in at first use.
_METHODS = ("search", "match", "fullmatch", "finditer", "findall", "sub", "subn", "split")


class LazyPattern:
    """`re.compile(pattern, flags)`, deferred until the pattern is first used."""

    def __init__(self, pattern: str | bytes, flags: int = 0, origin: str | None = None) -> None:
        self.pattern = pattern
        self._flags = flags
        self._origin = origin

    def compiled(self) -> re.Pattern[Any]:
        """The compiled pattern (compiled now if it was not yet)."""
        found = self.__dict__.get("_compiled")
        if found is None:
            found = self._compile()
            self.__dict__["_compiled"] = found
            for name in _METHODS:  # plain attribute hits from now on: no wrapper call per use
                self.__dict__[name] = getattr(found, name)
        return found

    def _compile(self) -> re.Pattern[Any]:
        try:
            return compile_cached(self.pattern, self._flags)
        except re.error as exc:
            if self._origin is None:  # a pattern of the code itself: a bug, not bad input
                raise
            # A pattern read from a data file (CARPENTER_DATA_DIR may point at an edited copy):
            # the same clear, located error its loader gave when it compiled at load time.
            raise ConfigError(f"invalid pattern {self.pattern!r}: {exc}",
                              path=self._origin) from None

    def __getattr__(self, name: str) -> Any:
        # Only reached for what __init__ did not set: the methods before the first use, and
        # the rarer attributes (groups, groupindex, flags) at any time.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.compiled(), name)

    def __repr__(self) -> str:
        return f"lazy_compile({self.pattern!r})"


def lazy_compile(pattern: str, flags: int = 0, origin: str | None = None) -> re.Pattern[str]:
    """A pattern that compiles on its first use; typed as what it stands in for. `origin`
    names the data file a pattern came from: a bad one is then a ConfigError located there."""
    return cast("re.Pattern[str]", LazyPattern(pattern, flags, origin))


def lazy_compile_bytes(pattern: bytes, flags: int = 0,
                       origin: str | None = None) -> re.Pattern[bytes]:
    return cast("re.Pattern[bytes]", LazyPattern(pattern, flags, origin))
