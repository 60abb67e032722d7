"""Write a Snapshot back as TOML (the standard library only reads TOML).

The writer covers exactly the value types a snapshot holds: strings, booleans, integers,
lists of strings and one level of inline tables.
"""

from __future__ import annotations

import json
import re
from typing import Any

from carpenter.snapshot.model import SCHEMA, Snapshot

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # JSON string escapes are valid TOML basic-string escapes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        if len(value) > 4:
            inner = "".join(f"\n  {_value(v)}," for v in value)
            return f"[{inner}\n]"
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to a snapshot")


def _table(lines: list[str], header: str, items: dict[str, Any]) -> None:
    lines.append("")
    lines.append(f"[{header}]")
    for k, v in items.items():
        if v is None or v == "" or v == {} or v == []:
            continue
        lines.append(f"{_key(k)} = {_value(v)}")


def dump_snapshot(snap: Snapshot, header_comment: str = "") -> str:
    lines: list[str] = [f"# {line}".rstrip() for line in header_comment.splitlines()]
    lines += [f"schema = {SCHEMA}", f"name = {_value(snap.name)}", f"as_of = {_value(snap.as_of)}"]
    if snap.description:
        lines.append(f"description = {_value(snap.description)}")
    t = snap.target
    _table(lines, "target", {"python": t.python, "platform": t.platform, "torch": t.torch,
                             "cuda": t.cuda, "cudnn": t.cudnn, "cxx11_abi": t.cxx11_abi})
    _table(lines, "provenance", snap.provenance)
    _table(lines, "pypi", dict(sorted(snap.pypi.items())))
    for image in snap.base_images.values():
        _table(lines, f"base_images.{_key(image.ref)}",
               {"digest": image.digest, "source": image.source})
    for pin in snap.git.values():
        _table(lines, f"git.{_key(pin.url)}",
               {"commit": pin.commit, "ref": pin.ref, "source": pin.source})
    for archive in snap.apt.values():
        _table(lines, f"apt.{_key(archive.distro)}",
               {"url": archive.url, "security_url": archive.security_url,
                "source": archive.source})
    if snap.conda:
        _table(lines, "conda", dict(sorted(snap.conda.items())))
    if snap.downloads:
        _table(lines, "downloads", snap.downloads)
    for wheel in snap.cuda_wheels:
        lines += ["", "[[cuda_wheels]]"]
        for k in ("package", "version", "torch", "cuda", "python", "cxx11_abi", "url", "source"):
            v = getattr(wheel, k)
            if v != "":
                lines.append(f"{k} = {_value(v)}")
    for o in snap.overrides:
        lines += ["", "[[overrides]]", f"id = {_value(o.id)}", f"action = {_value(o.action)}",
                  f"when = {_value(list(o.when))}"]
        if o.pins:
            lines.append(f"pins = {_value(o.pins)}")
        if o.env:
            lines.append(f"env = {_value(o.env)}")
        lines += [f"reason = {_value(o.reason)}", f"refs = {_value(list(o.refs))}"]
    return "\n".join(lines) + "\n"
