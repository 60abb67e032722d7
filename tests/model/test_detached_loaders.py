"""The bash grammar and the docker SDK's glob translation, loaded from their own files
(core.detached), are exactly the packages' own; without a plain file, the ordinary import."""

from __future__ import annotations

import sys

import pytest
import tree_sitter
import tree_sitter_bash
from docker.utils.fnmatch import translate as sdk_translate

from carpenter.model import dockerignore, shell

SCRIPT = b"""set -e; apt-get update && apt-get install -y git \\
  && pip install "torch==2.1.0" $(cat extra.txt) | tee log <<END
x
END
for f in *.whl; do pip install "$f"; done
"""


def _facts(language: object) -> tuple:
    lang = tree_sitter.Language(language)
    tree = tree_sitter.Parser(lang).parse(SCRIPT)
    return (lang.name, lang.abi_version, lang.node_kind_count, lang.field_count,
            lang.parse_state_count, str(tree.root_node))


def test_the_detached_grammar_is_the_packages() -> None:
    assert _facts(shell.bash_language()) == _facts(tree_sitter_bash.language())


def test_without_a_plain_file_the_grammar_comes_from_the_package(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "tree_sitter_bash._binding", raising=False)
    monkeypatch.setattr(shell, "load_detached", lambda name: None)
    assert _facts(shell.bash_language()) == _facts(tree_sitter_bash.language())


PATTERNS = ["**/*.pyc", "models/**", "**/tmp/cache.json", "a?c", "[a-c]*.txt", "[!x]y",
            "x[", "**", "/abs/**/z", "we\\ird", "*.{a,b}"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_detached_translation_is_the_sdks(pattern: str) -> None:
    dockerignore._sdk_translate.cache_clear()
    assert dockerignore._sdk_translate()(pattern) == sdk_translate(pattern)


def test_without_a_plain_file_the_translation_comes_from_the_sdk(monkeypatch) -> None:
    dockerignore._sdk_translate.cache_clear()
    monkeypatch.setattr(dockerignore, "load_detached", lambda name: None)
    try:
        assert dockerignore._sdk_translate() is sdk_translate
    finally:
        dockerignore._sdk_translate.cache_clear()
