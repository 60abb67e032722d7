"""Docker's .dockerignore semantics, checked against a table of cases.

Each row: ignore-file text, path (context-relative), whether Docker excludes it. The expected
values follow the docker SDK (docker.utils.build), which `carpenter rebuild` uses to send the
context; tests/hostile/test_dockerignore_sdk.py compares with it on random pattern sets.
"""

from __future__ import annotations

import pytest

from carpenter.core.errors import InputError
from carpenter.model.dockerignore import DockerIgnore, load_dockerignore, parse_patterns

CASES = [
    # plain names match the path and everything below it
    ("weights", "weights", True),
    ("weights", "weights/model.bin", True),
    ("weights", "src/weights", False),
    ("weights", "weightsX", False),
    # a leading slash is dropped: patterns are always relative to the context root
    ("/weights", "weights/a.bin", True),
    ("/weights", "x/weights", False),
    # cleaning: ./, trailing slash, duplicate slashes
    ("./data/", "data/train.json", True),
    ("data//raw", "data/raw/a", True),
    # `*` stays inside one segment
    ("*.bin", "model.bin", True),
    ("*.bin", "sub/model.bin", False),
    ("*/*.bin", "sub/model.bin", True),
    ("*/*.bin", "a/b/model.bin", False),
    # `?` is one character, never a slash
    ("ckpt-?", "ckpt-1", True),
    ("ckpt-?", "ckpt-10", False),
    ("a?b", "a/b", False),
    # character classes
    ("ckpt-[0-9]", "ckpt-7", True),
    ("ckpt-[0-9]", "ckpt-x", False),
    # Where the docker SDK (docker.utils.build, what rebuild sends) and moby differ, the SDK's
    # answer: `[^...]` is not a negation, `**x` needs a folder boundary, `\\` escapes nothing.
    ("ckpt-[^0-9]", "ckpt-x", False),
    ("ckpt-[!0-9]", "ckpt-x", True),
    # `**` any number of segments
    ("**/*.bin", "model.bin", True),
    ("**/*.bin", "a/b/c/model.bin", True),
    ("**/.cache", ".cache/huggingface/token", True),
    ("**/.cache", "home/u/.cache/huggingface/token", True),
    ("data/**/*.json", "data/x.json", True),
    ("data/**/*.json", "data/a/b/x.json", True),
    ("data/**/*.json", "other/a/x.json", False),
    ("data/**", "data/a/b", True),
    ("data/**", "data", False),  # prefix `data/`: the folder itself stays
    ("**", "anything/at/all", True),
    ("**foo", "a/xfoo", False),
    ("**foo", "a/foo", True),
    # exceptions: order matters, the last match wins
    ("*.md\n!README.md", "README.md", False),
    ("*.md\n!README.md", "NOTES.md", True),
    ("!README.md\n*.md", "README.md", True),
    ("models\n!models/keep.bin", "models/keep.bin", False),
    ("models\n!models/keep.bin", "models/drop.bin", True),
    ("models\n!models/keep.bin\nmodels/keep.bin", "models/keep.bin", True),
    ("*\n!src\n!requirements.txt", "src/app.py", False),
    ("*\n!src\n!requirements.txt", "weights/a.bin", True),
    ("*\n!src\n!requirements.txt", "requirements.txt", False),
    # `! pattern` with a space is the same exception
    ("*.txt\n! keep.txt", "keep.txt", False),
    # comments: only a `#` in the first column
    ("# weights", "# weights", False),
    ("# weights", "weights", False),
    ("  #weights", "#weights", True),
    # escapes
    ("\\*.bin", "*.bin", False),
    ("\\*.bin", "a.bin", False),
    # regex metacharacters are literal
    ("a+b(1).txt", "a+b(1).txt", True),
    ("a.b", "axb", False),
    # whitespace around patterns is trimmed
    ("   logs   ", "logs/x", True),
]


@pytest.mark.parametrize(("ignore", "path", "excluded"), CASES)
def test_docker_matching_table(ignore: str, path: str, excluded: bool) -> None:
    rules = DockerIgnore(parse_patterns(ignore))
    assert rules.excludes(path) is excluded


def test_the_dockerfile_and_the_ignore_file_are_always_sent(tmp_path) -> None:
    (tmp_path / ".dockerignore").write_text("*\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    rules = load_dockerignore(str(tmp_path), "Dockerfile")
    assert not rules.excludes("Dockerfile")
    assert not rules.excludes(".dockerignore")
    assert rules.excludes("app.py")


def test_per_dockerfile_ignore_file_wins(tmp_path) -> None:
    (tmp_path / ".dockerignore").write_text("data\n")
    (tmp_path / "Dockerfile.train.dockerignore").write_text("weights\n")
    rules = load_dockerignore(str(tmp_path), "Dockerfile.train")
    assert rules.path.endswith("Dockerfile.train.dockerignore")
    assert rules.excludes("weights/a")
    assert not rules.excludes("data/a")


def test_matching_pattern_names_the_deciding_line() -> None:
    rules = DockerIgnore(parse_patterns("# c\n*.bin\n!keep.bin\nmodels\n"))
    pattern = rules.matching_pattern("models/a.txt")
    assert pattern is not None and pattern.line == 4
    assert rules.matching_pattern("keep.bin") is None


def test_a_bare_exclamation_mark_is_an_error() -> None:
    with pytest.raises(InputError) as info:
        parse_patterns("a\n!\n", "ctx/.dockerignore")
    assert info.value.line == 2


def test_byte_order_mark_is_ignored() -> None:
    rules = DockerIgnore(parse_patterns("\ufeffweights\n"))
    assert rules.excludes("weights/x")
