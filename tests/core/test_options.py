"""One `--build-arg` parser for scan, fix, rebuild (before: scan accepted a bare `K`, fix and
rebuild rejected it) with docker's semantics, and secret-looking values registered for
redaction."""

from __future__ import annotations

import pytest

from carpenter.core import redact
from carpenter.core.errors import ConfigError
from carpenter.core.options import parse_build_args, parse_pairs


def test_bare_name_takes_the_environment_value_as_docker_does() -> None:
    env = {"FROM_ENV": "1"}
    assert parse_build_args(["A=b", "FROM_ENV", "NOT_SET"], env) == {"A": "b", "FROM_ENV": "1"}


def test_empty_value_is_kept() -> None:
    assert parse_build_args(["A="], {}) == {"A": ""}


@pytest.mark.parametrize("bad", ["=x", "1BAD=x", "has space=x", ""])
def test_invalid_names_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_build_args([bad], {})
    assert "NAME=VALUE" in str(err.value)


def test_rejected_value_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as err:
        parse_build_args(["1TOKEN=hunter2-secret-value"], {})
    assert "hunter2" not in str(err.value)


def test_secret_named_values_are_remembered_and_masked() -> None:
    parse_build_args(["WANDB_API_KEY=0123456789abcdef0123", "PYTHON_VERSION=3.10"], {})
    out = redact.redact("wandb key:\n0123456789abcdef0123 python 3.10")
    assert "0123456789abcdef0123" not in out
    assert "3.10" in out


def test_every_cli_uses_the_one_parser() -> None:
    import carpenter.fix.cli as fix_cli
    import carpenter.rebuild.cli as rebuild_cli
    import carpenter.scan.cli as scan_cli

    for module in (scan_cli, fix_cli, rebuild_cli):
        assert module.parse_build_args is parse_build_args


def test_pairs_are_strict() -> None:
    assert parse_pairs(["a=b=c"], "--base-map") == {"a": "b=c"}
    with pytest.raises(ConfigError):
        parse_pairs(["novalue"], "--base-map")
