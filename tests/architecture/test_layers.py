"""The layer contract: nothing imports upward, not even inside a function.

Layers, lowest first (docs/architecture.md has the picture):
  core       errors, packaged data, secret shapes + redaction, files, options: no Carpenter imports
  model      Dockerfile/context/git model              | containers  the only Docker client
  scan → snapshot → fix → rebuild → smoke              each imports lower layers and earlier stages
  report     renders results; imported only by CLIs (and the pipeline commands above it)
  cli        carpenter/cli.py and every */cli.py; launch.py (the console script), daemon.py
             (`carpenter server`), __main__.py
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "carpenter"

# Rank of each top-level part; a module may import its own part or any part of lower rank.
# Parts with the same rank must not import each other.
RANKS: dict[str, int] = {
    "core": 0,
    "model": 1,
    "containers": 1,
    "scan": 2,
    "snapshot": 3,
    "fix": 4,
    "rebuild": 5,
    "smoke": 6,
    "report": 7,
    "pipeline": 8,
    "batch": 9,
}
CLI_RANK = 100
# Top-level modules of the CLI layer besides carpenter/cli.py: the console-script launcher, the
# scan server it talks to, and `python -m carpenter`.
CLI_MODULES = {"carpenter.cli", "carpenter.launch", "carpenter.daemon", "carpenter.__main__"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every `carpenter` module `path` imports, at any depth of the file (functions too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names
                      if (PACKAGE.parent / f"{base}.{a.name}".replace(".", "/")).exists()
                      or (PACKAGE.parent / (f"{base}.{a.name}".replace(".", "/") + ".py")).exists()]
    return [(line, mod) for line, mod in found
            if mod == "carpenter" or mod.startswith("carpenter.")]


def rank(module: str) -> tuple[str, int]:
    parts = module.split(".")
    if module in CLI_MODULES or parts[-1] == "cli":
        return "cli", CLI_RANK
    if len(parts) == 1:
        return "carpenter", 0  # the package itself only holds __version__
    part = parts[1]
    if part not in RANKS:
        raise AssertionError(f"{module}: part {part!r} has no layer; add it to RANKS and "
                             "docs/architecture.md")
    return part, RANKS[part]


def violations(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        source = module_name(path)
        source_part, source_rank = rank(source)
        for line, target in imports_of(path):
            target_part, target_rank = rank(target)
            if target_part == source_part or target_part == "carpenter":
                continue
            where = f"{path.relative_to(ROOT)}:{line}: {source} imports {target}"
            if target_rank > source_rank or (target_rank == source_rank
                                              and source_part != target_part):
                found.append(where + " (upward or sideways)")
            elif source_part == "core" and target_part != "core":
                found.append(where + " (core imports nothing above it)")
    return found


def package_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "harness" not in p.parts)


def test_no_module_imports_upward() -> None:
    assert violations(package_files()) == []


def test_the_package_root_imports_nothing() -> None:
    assert imports_of(PACKAGE / "__init__.py") == []


def test_every_part_has_a_layer() -> None:
    for path in package_files():
        rank(module_name(path))


@pytest.mark.parametrize("code", [
    "def f():\n    from carpenter.report.interface import safe_text\n",
    "import carpenter.fix.engine\n",
    "from carpenter.scan import engine\n",
    "from ..report import text\n",
])
def test_the_checker_sees_function_level_and_relative_imports(tmp_path, code) -> None:
    # A model module importing a stage above it, in each import form the checker must see.
    fake = PACKAGE / "model" / "_layer_probe_tmp.py"
    fake.write_text(code, encoding="utf-8")
    try:
        assert violations([fake]), code
    finally:
        fake.unlink()


def test_redaction_loads_with_nothing_above_core() -> None:
    # Redaction must never depend on a stage: import it in a fresh interpreter and check that
    # no stage module came along.
    import subprocess
    import sys

    code = ("import sys, carpenter.core.redact as r; "
            "print(r.redact('hf_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7')); "
            "print(sorted(m for m in sys.modules if m.startswith('carpenter.') "
            "and not m.startswith('carpenter.core')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.splitlines()
    assert "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7" not in out[0]
    assert out[1] == "[]"
