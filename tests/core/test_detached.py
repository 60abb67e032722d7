"""core.detached: one module of a package, run from its file without running the package."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from carpenter.core.detached import load_detached

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def package(tmp_path: Path, monkeypatch) -> Path:
    """`pkgx.sub.leaf` on sys.path, whose packages fail if they run."""
    leaf = tmp_path / "pkgx" / "sub"
    leaf.mkdir(parents=True)
    for init in (tmp_path / "pkgx", leaf):
        (init / "__init__.py").write_text("raise RuntimeError('the package ran')\n")
    (leaf / "leaf.py").write_text("import re\nX = re.escape('a.b')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_module_runs_without_its_packages(package: Path) -> None:
    module = load_detached("pkgx.sub.leaf")
    assert module is not None and module.X == r"a\.b"
    assert module.__name__ == "pkgx.sub.leaf" and module.__file__.endswith("leaf.py")
    assert not {"pkgx", "pkgx.sub", "pkgx.sub.leaf"} & set(sys.modules)


@pytest.mark.parametrize("name", ["pkgx.sub.missing", "pkgx.nothing.leaf", "no_such_package",
                                  "json.decoder.below_a_module"])
def test_what_cannot_be_found_is_none(package: Path, name: str) -> None:
    assert load_detached(name) is None


def test_a_zipped_module_is_left_to_the_ordinary_import(tmp_path: Path, monkeypatch) -> None:
    archive = tmp_path / "lib.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("pkgz/__init__.py", "")
        zipped.writestr("pkgz/mod.py", "X = 1\n")
    monkeypatch.syspath_prepend(str(archive))
    assert load_detached("pkgz.mod") is None


def test_the_bash_grammar_loads_without_importlib_resources() -> None:
    code = ("import sys\nfrom carpenter.core.detached import load_detached\n"
            "import tree_sitter\n"
            "binding = load_detached('tree_sitter_bash._binding')\n"
            "parser = tree_sitter.Parser(tree_sitter.Language(binding.language()))\n"
            "assert not parser.parse(b'echo hi && ls').root_node.has_error\n"
            "assert 'tree_sitter_bash' not in sys.modules\n"
            "assert 'importlib.resources' not in sys.modules\n")
    where = sysconfig.get_paths()
    subprocess.run([sys.executable, "-S", "-c", code], check=True, env={
        "PYTHONPATH": ":".join([str(ROOT), where["purelib"], where["platlib"]])})
