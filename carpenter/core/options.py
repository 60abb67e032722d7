"""Option values every command parses the same way (`--build-arg`, `--base-map`, `--env`,
`--secret`, `--memory`).

One parser per option shape, so `scan`, `fix`, `rebuild`, `smoke` and `check` agree on what
they accept. Values that may be credentials are handed to the run's redaction registry here,
at the one place they enter Carpenter.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from carpenter.core.errors import ConfigError
from carpenter.core.lazyre import lazy_compile
from carpenter.core.records import record
from carpenter.core.redact import remember
from carpenter.core.shapes import find_secrets, is_secret_name, looks_random

_NAME = lazy_compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SIZE = lazy_compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


@record
class SecretSpec:
    """One `--secret id=...,src=FILE|env=VAR` (rebuild fills `src` in for env secrets before a
    build; smoke exposes the value to the container as variable `id`)."""

    id: str
    src: str | None = None
    env: str | None = None


def parse_build_args(values: Iterable[str], environ: Mapping[str, str] | None = None,
                     option: str = "--build-arg") -> dict[str, str]:
    """`K=V` pairs as `docker build --build-arg` takes them: a bare `K` takes the environment's
    value and is left out when the environment has none."""
    env = os.environ if environ is None else environ
    args: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if _NAME.fullmatch(name) is None:
            raise ConfigError(f"{option} {_shown(value)!r}: expected NAME=VALUE or NAME")
        if sep:
            args[name] = text
        elif name in env:
            args[name] = env[name]
    remember_secret_values(args)
    return args


def parse_pairs(values: Iterable[str], option: str) -> dict[str, str]:
    """Strict `K=V` pairs (`--base-map FROM=TO`, the fields of `--secret id=…,env=…`)."""
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise ConfigError(f"{option} {_shown(value)!r}: expected KEY=VALUE")
        pairs[key] = val
    return pairs


def parse_secret(value: str) -> SecretSpec:
    """`id=NAME,src=FILE` (or `source=FILE`, as docker spells it) or `id=NAME,env=VARIABLE`."""
    fields = parse_pairs(tuple(value.split(",")), "--secret")
    unknown = set(fields) - {"id", "src", "source", "env"}
    secret_id = fields.get("id")
    src = fields.get("src") or fields.get("source")
    env = fields.get("env")
    if unknown or not secret_id or (src is None) == (env is None):
        raise ConfigError(f"--secret {value.split(',')[0]},...: expected id=NAME and exactly one "
                          "of src=FILE or env=VARIABLE")
    return SecretSpec(id=secret_id, src=src, env=env)


def parse_size(text: str) -> int:
    """`512m`, `2g`, `1GiB`, `1048576` -> bytes (powers of 1024, as docker does)."""
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(f"--memory {text!r}: expected a size such as 512m or 4g")
    power = " kmgt".index(match.group(2).lower() or " ")
    return int(float(match.group(1)) * 1024**power)


def remember_secret_values(pairs: Mapping[str, str]) -> None:
    """Register the values of secret-named variables, and any value shaped like a credential,
    with the run's redaction (a `PYTHON_VERSION=3.10` stays readable)."""
    remember(value for name, value in pairs.items()
             if is_secret_name(name) or looks_random(value) or find_secrets(value))


def _shown(value: str) -> str:
    # The rejected text is echoed back: never its value part in full.
    name, sep, _ = value.partition("=")
    return f"{name}=..." if sep else value[:40]
