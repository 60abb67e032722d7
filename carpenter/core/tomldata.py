"""Carpenter's TOML data files, read through a checksummed JSON twin when one is fresh.

tomllib is pure Python: parsing secrets.toml and cuda_extensions.toml cost a cold scan ~32M
instructions (about 5%), json (C-accelerated) a small fraction of that. Each twin
`<name>.toml.json` beside its TOML is written by `python -m carpenter.core.tomldata_build` and
records the size and CRC-32 of the TOML bytes it was made from. It is used only while they
equal the TOML on disk, so an edited TOML (a copy under CARPENTER_DATA_DIR, a hand edit before
the generator runs) is always read as TOML: the twin can make a load faster, never different.
CRC-32 guards against a stale twin, not an attacker: whoever can write the data folder can
write the TOML too.

The TOML stays the source people edit and review; a twin holds only what JSON represents
exactly (strings, integers, finite floats, booleans, arrays, tables), and the generator refuses
a file with a date or time.
"""

from __future__ import annotations

import json
from typing import Any

TWIN_SUFFIX = ".json"  # secrets.toml -> secrets.toml.json


class TomlDataError(ValueError):
    """A data file that is not valid TOML; the message is tomllib's (with line and column)."""


def load_toml_data(path: str) -> dict[str, Any]:
    """The TOML file at `path` as tomllib would read it, from its twin when that is fresh.

    Raises OSError when the TOML cannot be read, TomlDataError when it does not parse and
    UnicodeDecodeError when it is not UTF-8 (as `tomllib.load` does)."""
    with open(path, "rb") as handle:
        raw = handle.read()
    twin = _fresh_twin(path + TWIN_SUFFIX, raw)
    if twin is not None:
        return twin
    return parse_toml(raw)


def parse_toml(raw: bytes) -> dict[str, Any]:
    """tomllib's reading of `raw` (imported only here: a scan with fresh twins never needs it)."""
    import tomllib

    try:
        return tomllib.loads(raw.decode())
    except tomllib.TOMLDecodeError as exc:
        raise TomlDataError(str(exc)) from exc


def stamp(raw: bytes) -> dict[str, int]:
    """What a twin records of the TOML bytes it was made from."""
    return {"size": len(raw), "crc32": _crc32(raw)}


def _crc32(raw: bytes) -> int:
    import zlib  # a small C module; only once a twin's size matches

    return zlib.crc32(raw)


def _fresh_twin(twin_path: str, raw: bytes) -> dict[str, Any] | None:
    """The twin's data when it was made from exactly these bytes; None otherwise (missing,
    stale, unreadable or malformed: the TOML is then parsed, as if there were no twin)."""
    try:
        with open(twin_path, "rb") as handle:
            twin = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    source = twin.get("source") if isinstance(twin, dict) else None
    # Size first: most edits change it, and it costs nothing.
    if not isinstance(source, dict) or source.get("size") != len(raw) \
            or source.get("crc32") != _crc32(raw):
        return None
    data = twin.get("data")
    return data if isinstance(data, dict) else None
