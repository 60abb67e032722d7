"""Dependencies a local project declares (`pip install .` / `-e .`), located in their files.

pyproject.toml (`[project] dependencies`, requested optional extras, Poetry's
`[tool.poetry.dependencies]`), setup.cfg (`[options] install_requires`) and setup.py
(`install_requires=[...]` literals), each dependency with its file offsets.
"""

from __future__ import annotations

import ast
import posixpath
import re
import tomllib
from collections.abc import Callable

from carpenter.core.records import record
from carpenter.model.source import SourceFile


@record(frozen=True, slots=True)
class Declared:
    source: SourceFile
    offset: int
    end_offset: int
    text: str  # a PEP 508 requirement (Poetry entries converted: `name` + constraint)
    poetry: bool = False


Reader = Callable[[str], SourceFile | None]


def project_dependencies(read: Reader, folder: str, extras: tuple[str, ...] = ()) -> list[Declared]:
    found: list[Declared] = []
    pyproject = read(posixpath.join(folder, "pyproject.toml"))
    if pyproject is not None:
        found.extend(_pyproject(pyproject, extras))
    setup_cfg = read(posixpath.join(folder, "setup.cfg"))
    if setup_cfg is not None:
        found.extend(_setup_cfg(setup_cfg))
    setup_py = read(posixpath.join(folder, "setup.py"))
    if setup_py is not None:
        found.extend(_setup_py(setup_py))
    return found


def _locate(source: SourceFile, text: str, after: int) -> tuple[int, int]:
    for quote in ('"', "'"):
        at = source.text.find(quote + text + quote, after)
        if at >= 0:
            return at + 1, at + 1 + len(text)
    at = source.text.find(text, after)
    return (at, at + len(text)) if at >= 0 else (after, after)


def _pyproject(source: SourceFile, extras: tuple[str, ...]) -> list[Declared]:
    try:
        data = tomllib.loads(source.text)
    except tomllib.TOMLDecodeError:
        return []
    out: list[Declared] = []
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    deps = list(project.get("dependencies") or [])
    optional = project.get("optional-dependencies") or {}
    for extra in extras:
        deps.extend(optional.get(extra) or [])
    anchor = max(source.text.find("dependencies"), 0)
    for dep in deps:
        if isinstance(dep, str):
            start, end = _locate(source, dep, anchor)
            out.append(Declared(source, start, end, dep))
    poetry = (data.get("tool") or {}).get("poetry") or {}
    section = source.text.find("[tool.poetry.dependencies]")
    for name, spec in (poetry.get("dependencies") or {}).items():
        if name.lower() == "python" or section < 0:
            continue
        version = spec.get("version", "") if isinstance(spec, dict) else str(spec)
        match = re.search(rf"(?m)^\s*{re.escape(name)}\s*=.*$", source.text[section:])
        start = section + (match.start() + len(match.group(0)) - len(match.group(0).lstrip())
                           if match else 0)
        end = section + match.end() if match else start
        out.append(Declared(source, start, end, name + _poetry_spec(version), poetry=True))
    return out


def _poetry_spec(version: str) -> str:
    """Poetry: a bare `1.2.3` is exact; `^`, `~`, `*` and ranges are not."""
    version = version.strip()
    if re.fullmatch(r"\d+(?:\.\d+)*", version):
        return "==" + version
    if not version or version == "*" or version.startswith(("^", "~")):
        return ""  # a floating constraint: reported as unpinned
    return version if version[0] in "<>=!" else ""


def _setup_cfg(source: SourceFile) -> list[Declared]:
    out: list[Declared] = []
    match = re.search(r"(?m)^\s*install_requires\s*=", source.text)
    if not match:
        return out
    line, _ = source.position(match.end())
    first = source.line_text(line)[match.end() - source.offset_of(line):].strip()
    entries = [(line, first)] if first else []
    n = line + 1
    while n <= source.line_count:
        text = source.line_text(n)
        if not text.strip() or not text[:1].isspace():
            break
        entries.append((n, text.strip()))
        n += 1
    for number, text in entries:
        if text.startswith("#"):
            continue
        start = source.offset_of(number) + source.line_text(number).find(text)
        out.append(Declared(source, start, start + len(text), text))
    return out


def _setup_py(source: SourceFile) -> list[Declared]:
    try:
        tree = ast.parse(source.text)
    except (SyntaxError, ValueError):
        return []
    out: list[Declared] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.keyword) or node.arg != "install_requires":
            continue
        if not isinstance(node.value, (ast.List, ast.Tuple)):
            continue
        for item in node.value.elts:
            if isinstance(item, ast.Constant) and isinstance(item.value, str):
                start = source.offset_of(item.lineno, item.col_offset + 1) + 1
                out.append(Declared(source, start, start + len(item.value), item.value))
    return out
