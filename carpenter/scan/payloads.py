"""Typed payloads: the facts a fixable finding hands to `carpenter fix`.

A rule and its fixer share one frozen struct (in the spirit of ruff's violation structs): the
rule fills it, `fix` dispatches on its type and reads typed fields instead of digging through a
dict with fallbacks. `to_dict()` gives the `Finding.data` keys the rule wrote before payloads
existed, so the snapshots and anything reading `data` see the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Payload:
    def to_dict(self) -> dict[str, Any]:
        """Every field that has a value; tuples as lists (as `data` held them)."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None:
                continue
            out[item.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True, slots=True)
class PipPin(Payload):
    """A pip requirement to pin: on a RUN line, in a requirements file or an environment.yml.

    `spec_offset`/`spec_end_offset` locate the version specifier when the requirement is written
    as one plain word (where `--strategy constraints` can point); `file` is the requirements
    file relative to the context; `manager` is "pip" for the `pip:` section of an environment.yml.
    """

    package: str | None
    requirement: str
    extras: tuple[str, ...] | None = None
    marker: str | None = None
    specifier: str | None = None
    spec_offset: int | None = None
    spec_end_offset: int | None = None
    file: str | None = None
    manager: str | None = None


@dataclass(frozen=True, slots=True)
class SecretMove(Payload):
    """A secret to move out of the Dockerfile into a `RUN --mount=type=secret`.

    `variable` is the ENV/ARG (or assignment) holding it, if any; `secret_kind` is the detector's
    kind ("huggingface-token", ..., or "placeholder" when no real value is written).
    """

    secret_kind: str
    variable: str | None = None
    fingerprint: str | None = None
    confidence: str | None = None
    instruction: str | None = None
