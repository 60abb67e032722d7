"""Compiled regular expressions kept between processes.

`re.compile` parses a pattern and generates the engine's code in pure Python (`re._parser`,
`re._compiler`); in a cold `carpenter scan` that is several per cent of all the work, and the
answer is the same every time for one interpreter. `compile_cached(pattern, flags)` keeps, per
(pattern, flags), the arguments of the C constructor `_sre.compile` (the final flags, the code
words, the group count and names) in `re-<cache tag>.marshal` in Carpenter's cache folder
(`core.resources.default_cache_dir()`), so a later process rebuilds the pattern from them with
no parsing. The result is the object `re.compile` would return (same code, flags, groups), and
it goes into `re`'s own in-process cache like one `re.compile` made (so `carpenter server`'s
warm-up still sees and preloads it).

When it does not apply, `compile_cached` *is* `re.compile`: unusual flags (DEBUG, TEMPLATE),
a non-str/bytes pattern, a pattern that does not compile (the caller gets exactly the
`re.error` it gets today) or whose parsing warns (the warning is shown as today, every run),
an interpreter without these internals.

The file (`core.marshalfile`) is keyed by the interpreter and `_sre`'s code format, so another
Python never reads it, and is used only when it is whole and private to the user. It is read
once, on the first pattern not already in `re`'s cache, and written at exit only when this
process compiled a pattern it did not hold (merged with what is on disk then: concurrent runs
lose nothing but their own additions; at most MAX_ENTRIES, the least recently used dropped).

The libraries a scan imports (platform, json, gettext, click) compile ~20 patterns of their
own at import, before any Carpenter code could route them: `note_imports()` (called by
the console script once the CLI is imported) writes what re's cache then holds to
`re-imports-<cache tag>.marshal`, and `preload()` (called by the console script before it
imports the CLI) puts them back into re's cache, where those `re.compile` calls find them.

`CARPENTER_NO_CACHE=1` turns it off (no file read or written). `carpenter scan --no-cache`
leaves it on: that flag means "re-check every file" (do not reuse scan results), and a compiled
pattern is the same code whether parsed now or read back, so it cannot change a result. The
scan's `--cache-dir` moves only the result cache; this file follows `CARPENTER_CACHE_DIR`.

Only for patterns whose text is the same in every run (the code's and the data files'): a
pattern built from run-dependent text would only grow the file. Where such a text has a fixed
equivalent (tokenize's lists string prefixes in hash-seed order), `seed_equivalent` caches the
fixed text and hands its compile to `re` under the varying one.
"""

from __future__ import annotations

import _sre
import contextlib
import os
import re
import sys
from typing import TYPE_CHECKING, Any

from carpenter.core.resources import default_cache_dir

MAX_ENTRIES = 2000  # Carpenter uses ~150 patterns: room for several data versions
# Flags the cached path reproduces; anything else (DEBUG prints, TEMPLATE warns) goes to re.
# (Summed from .value: `|` on RegexFlag members costs more than this whole module's import.)
_PLAIN_FLAGS = sum(flag.value for flag in (re.I, re.L, re.M, re.S, re.U, re.X, re.A))
_CODE_FORMAT = "I"  # the code words as unsigned C ints (_sre.CODESIZE bytes each)

if TYPE_CHECKING:
    # (final flags, code as bytes, groups - 1, groupindex, indexgroup): `_sre.compile`'s
    # arguments
    Entry = tuple[int, bytes, int, dict[str, int], tuple[str | None, ...]]
    Key = tuple[str | bytes, int]


class _Store:
    """The entries read from the file, and what this process adds to them."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.entries = _read(path)
        self.used: dict[Key, None] = {}  # hits and additions, in order (most recent last)
        self.added = False

    def compile(self, pattern: str | bytes, flags: int) -> re.Pattern[Any]:
        key = (pattern, flags)
        entry = self.entries.get(key)
        if entry is not None:
            compiled = _build_or_none(pattern, entry)
            if compiled is not None:
                self.used[key] = None
                return compiled
            del self.entries[key]  # a malformed entry: parse as if it were absent
        return self._compile_new(key)

    def _compile_new(self, key: Key) -> re.Pattern[Any]:
        pattern, flags = key
        entry = _entry(pattern, flags)
        compiled = None if entry is None else _build_or_none(pattern, entry)
        if entry is None or compiled is None:
            # it raises, warns, or is unusual: exactly what re.compile does, error included
            return re.compile(pattern, flags)
        self.entries[key] = entry
        self.used[key] = None
        if not self.added:
            self.added = True
            import atexit

            atexit.register(self.save)
        return compiled

    def save(self) -> None:
        """Write this process's entries merged with the file's current ones (never raises:
        it runs at exit, where a cache must not turn a clean run into a traceback)."""
        with contextlib.suppress(Exception):
            self._save()

    def _save(self) -> None:
        merged = {k: v for k, v in _read(self.path).items() if k not in self.used}
        merged.update((k, self.entries[k]) for k in self.used if k in self.entries)
        if len(merged) > MAX_ENTRIES:  # oldest first: keep the tail
            merged = dict(list(merged.items())[-MAX_ENTRIES:])
        from carpenter.core import marshalfile

        marshalfile.save(self.path, _file_key(), merged)


_store: _Store | None = None
_disabled = False
_preloaded: dict[Key, Entry] = {}  # what preload put into re's cache, from the imports file


def compile_cached(pattern: str | bytes, flags: int = 0) -> re.Pattern[Any]:
    """`re.compile(pattern, flags)`, parsed once per interpreter and then read back."""
    if isinstance(flags, re.RegexFlag):
        flags = flags.value
    if type(flags) is not int:  # whatever re.compile makes of it
        return re.compile(pattern, flags)
    memo = getattr(re, "_cache", None)
    if isinstance(memo, dict):  # re's in-process cache first, as re.compile does
        found = memo.get((type(pattern), pattern, flags))
        if found is not None:
            return found
    store = _the_store()
    if store is None or type(pattern) not in (str, bytes) or flags & ~_PLAIN_FLAGS:
        return re.compile(pattern, flags)
    compiled = store.compile(pattern, flags)
    _remember(memo, (type(pattern), pattern, flags), compiled)
    return compiled


def seed_equivalent(text: str, canonical: str, flags: int = 0) -> None:
    """Make `re.compile(text, flags)` in this process return the compile of `canonical`, read
    back through the cache. For a standard-library pattern whose text changes from run to run
    (so caching the text itself would never hit): the caller must know that `canonical`
    matches exactly what `text` matches."""
    memo = getattr(re, "_cache", None)
    if isinstance(memo, dict) and (str, text, flags) not in memo:
        _remember(memo, (str, text, flags), compile_cached(canonical, flags))


def preload() -> None:
    """Before the libraries a scan imports are imported: put the patterns they compile at
    import (platform, json, gettext, click, ...: ~2 ms of parsing) into re's cache, read back
    from the imports file that `note_imports` wrote, so their `re.compile` finds them there."""
    path = _imports_path()
    memo = getattr(re, "_cache", None)
    if path is None or not isinstance(memo, dict) or not _supported():
        return
    for key, entry in _read(path).items():
        try:
            pattern, flags = key
        except (TypeError, ValueError):
            continue  # a malformed key: not cached
        compiled = _build_or_none(pattern, entry)
        if compiled is not None and type(flags) is int:
            _remember(memo, (type(pattern), pattern, flags), compiled)
            _preloaded[key] = entry


def note_imports() -> None:
    """Once the imports are done: when re's cache holds plain patterns `preload` did not
    supply (a first run, an upgraded library), write them all for the next process."""
    path = _imports_path()
    memo = getattr(re, "_cache", None)
    if path is None or not isinstance(memo, dict) or not _supported():
        return
    keys = [(key[1], key[2]) for key, compiled in list(memo.items())
            if len(key) == 3 and type(key[1]) in (str, bytes) and type(key[2]) is int
            and not key[2] & ~_PLAIN_FLAGS and getattr(compiled, "pattern", None) == key[1]]
    if all(key in _preloaded for key in keys):
        return
    entries = {}
    for key in keys:
        entry = _preloaded.get(key) or _entry(*key)
        if entry is not None:
            entries[key] = entry
    from carpenter.core import marshalfile

    marshalfile.save(path, _file_key(), entries)
    _preloaded.update(entries)


def cache_path() -> str | None:
    """The pattern cache file of this interpreter, or None when caches are turned off."""
    folder = default_cache_dir()
    if folder is None:
        return None
    return os.path.join(folder, f"re-{sys.implementation.cache_tag}.marshal")


def _imports_path() -> str | None:
    """The file of the patterns compiled while importing (beside the pattern cache)."""
    folder = default_cache_dir()
    if folder is None:
        return None
    return os.path.join(folder, f"re-imports-{sys.implementation.cache_tag}.marshal")


def _the_store() -> _Store | None:
    global _store, _disabled
    if _store is None and not _disabled:
        path = cache_path()
        if path is None or not _supported():
            _disabled = True
            return None
        _store = _Store(path)
    return _store


def _supported() -> bool:
    """This interpreter has the internals the cache rebuilds patterns with."""
    compiler = getattr(re, "_compiler", None)
    # Code words are written with array and read back with memoryview: both must use
    # _sre's word size (4 on every CPython platform; the file key holds it too).
    return (hasattr(getattr(re, "_parser", None), "parse") and hasattr(compiler, "_code")
            and hasattr(_sre, "compile")
            and memoryview(b"\0" * _sre.CODESIZE).cast(_CODE_FORMAT).itemsize == _sre.CODESIZE)


def _file_key() -> bytes:
    """What the code words mean besides the interpreter (marshalfile adds its version)."""
    return (f"patterncache-1 {sys.hexversion} {_sre.MAGIC} {_sre.CODESIZE} "
            f"{_sre.MAXREPEAT} {_sre.MAXGROUPS}").encode()


def _read(path: str) -> dict[Key, Entry]:
    from carpenter.core import marshalfile  # not imported where caches are off

    found = marshalfile.load(path, _file_key())
    return found if isinstance(found, dict) else {}


def _entry(pattern: str | bytes, flags: int) -> Entry | None:
    """What `re._compiler.compile` hands `_sre.compile`, or None when re must do it itself."""
    import warnings
    from re import _compiler, _parser  # type: ignore[attr-defined]

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            parsed = _parser.parse(pattern, flags)
            code = _compiler._code(parsed, flags)
    except Exception:  # re.compile raises it again, for the caller
        return None
    if caught:
        return None
    state = parsed.state
    indexgroup: list[str | None] = [None] * state.groups
    for name, index in state.groupdict.items():
        indexgroup[index] = name
    from array import array  # only here: a process that parses nothing never imports it

    return (flags | state.flags, array(_CODE_FORMAT, code).tobytes(), state.groups - 1,
            dict(state.groupdict), tuple(indexgroup))


def _build_or_none(pattern: str | bytes, entry: Entry) -> re.Pattern[Any] | None:
    """`_sre.compile` on stored arguments; None for an entry it refuses. `_sre` validates the
    code words' structure, so a malformed entry cannot crash the engine; that an entry is the
    right one rests on the file's checks (checksum, key, private to the user)."""
    try:
        final_flags, words, groups, groupindex, indexgroup = entry
        code = memoryview(words).cast(_CODE_FORMAT).tolist()
        return _sre.compile(pattern, final_flags, code, groups, dict(groupindex),
                            tuple(indexgroup))
    except Exception:  # any malformed entry is "not cached"
        return None


def _remember(memo: object, key: tuple[type, str | bytes, int], compiled: re.Pattern[Any]) -> None:
    """Into re's cache, as re.compile would store it (oldest dropped at re's own bound)."""
    if not isinstance(memo, dict):
        return
    if len(memo) >= getattr(re, "_MAXCACHE", 512):
        with contextlib.suppress(StopIteration, RuntimeError, KeyError):
            del memo[next(iter(memo))]
    memo[key] = compiled
