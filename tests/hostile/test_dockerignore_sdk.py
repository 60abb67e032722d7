"""Carpenter's .dockerignore answers agree with the docker SDK's own walk (docker.utils.build,
what `rebuild` sends), and hostile patterns cost linear time."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carpenter.model.dockerignore import DockerIgnore, glob_match, parse_patterns

_NAMES = ["checkpoints", "final.pt", "a", "b", "model.bin", "x.pt", "data"]
_PATTERN_PARTS = ["checkpoints", "final.pt", "*.pt", "*", "**", "a", "b", "?", "data", "*.bin",
                  "[ab]", "mod*"]
TREE = ["checkpoints/final.pt", "checkpoints/x.pt", "a/checkpoints/final.pt", "a/b/model.bin",
        "data/a/x.pt", "model.bin", "final.pt", "b/data/final.pt", "a/final.pt",
        "checkpoints/a/final.pt"]


def _sdk_sent(root: Path, patterns: list[str]) -> set[str]:
    from docker.utils.build import exclude_paths

    return exclude_paths(str(root), list(patterns), dockerfile="Dockerfile")


@st.composite
def _pattern(draw) -> str:
    parts = draw(st.lists(st.sampled_from(_PATTERN_PARTS), min_size=1, max_size=3))
    return ("!" if draw(st.booleans()) else "") + "/".join(parts)


def _tree(root: Path) -> None:
    for rel in TREE:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    (root / "Dockerfile").write_text("FROM scratch\n")


def test_checkpoints_exception_matches_the_sdk(tmp_path: Path) -> None:
    """`**/checkpoints` + `!**/final.pt`: the SDK never enters checkpoints/, so final.pt is not
    sent although the exception matches it (the old matcher said it was sent)."""
    _tree(tmp_path)
    patterns = ["**/checkpoints", "!**/final.pt"]
    sent = _sdk_sent(tmp_path, patterns)
    ignore = DockerIgnore(parse_patterns("\n".join(patterns)), always_sent=frozenset(
        {"Dockerfile", ".dockerignore"}))
    assert "checkpoints/final.pt" not in sent
    assert ignore.excludes("checkpoints/final.pt")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(patterns=st.lists(_pattern(), min_size=1, max_size=4))
def test_random_pattern_sets_agree_with_the_sdk(tmp_path_factory, patterns: list[str]) -> None:
    root = tmp_path_factory.mktemp("ctx")
    _tree(root)
    sent = _sdk_sent(root, patterns)
    ignore = DockerIgnore(parse_patterns("\n".join(patterns)), always_sent=frozenset(
        {"Dockerfile", ".dockerignore"}))
    for rel in TREE:
        assert ignore.excludes(rel) == (rel not in sent), (patterns, rel)


def test_exponential_star_pattern_is_linear() -> None:
    """`*a*a*a...*b` against a long run of `a`: the backtracking regex takes minutes."""
    pattern = "*a" * 1000 + "*b"
    name = "a" * 3000
    ignore = DockerIgnore(parse_patterns(pattern))
    assert not ignore.excludes(name)
    assert glob_match("a" * 1000 + "b", pattern)


def test_costly_mixed_pattern_is_reported_not_matched() -> None:
    pattern = "**/" + "?*" * 20 + "b"
    (parsed,) = parse_patterns(pattern)
    assert parsed.problem and "wildcards" in parsed.problem
    assert not DockerIgnore([parsed]).excludes("a" * 100)


def test_names_differ_only_in_case(tmp_path: Path) -> None:
    """The SDK lower-cases both sides."""
    assert glob_match("Weights/Model.BIN", "weights/*.bin")
    assert os.sep == "/"
