"""`carpenter rebuild` argument handling and the no-engine path (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rebuild_helpers import FIXTURES, carpenter

from carpenter.core.errors import ConfigError, InputError
from carpenter.rebuild.cli import parse_secret, parse_size, resolve_paths


@pytest.mark.parametrize(("text", "expected"), [
    ("512m", 512 * 1024**2), ("4g", 4 * 1024**3), ("1GiB", 1024**3), ("1048576", 1048576),
    ("1.5g", int(1.5 * 1024**3)),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "-1g", "4x", ""])
def test_parse_size_rejects(text):
    with pytest.raises(ConfigError):
        parse_size(text)


def test_parse_secret_forms():
    assert parse_secret("id=tok,env=HF_TOKEN").env == "HF_TOKEN"
    assert parse_secret("id=tok,src=/run/x").src == "/run/x"
    for bad in ("id=tok", "src=/x", "id=tok,src=/x,env=Y", "id=tok,colour=red", "tok"):
        with pytest.raises(ConfigError):
            parse_secret(bad)


def test_resolve_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Dockerfile.gpu").write_text("FROM scratch\n")
    ctx, df = resolve_paths(tmp_path / "sub" / "Dockerfile.gpu", None, None)
    assert (ctx, df.name) == ((tmp_path / "sub").resolve(), "Dockerfile.gpu")
    ctx, df = resolve_paths(tmp_path / "sub", Path("Dockerfile.gpu"), None)
    assert df == (tmp_path / "sub" / "Dockerfile.gpu").resolve()
    with pytest.raises(InputError):
        resolve_paths(tmp_path / "sub", None, None)  # no ./Dockerfile
    with pytest.raises(InputError):
        resolve_paths(tmp_path / "missing", None, None)


def test_no_engine_is_exit_2_without_traceback():
    done = carpenter("rebuild", str(FIXTURES / "command-failed"),
                     env={"DOCKER_HOST": "unix:///nonexistent/carpenter-test.sock"})
    assert done.returncode == 2
    assert "no Docker engine reachable at unix:///nonexistent/carpenter-test.sock" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


@pytest.mark.parametrize("args", [
    ["--memory", "plenty"],
    ["--build-arg", "1BAD=x"],
    ["--secret", "id=x"],
    ["--network", "host"],
    ["--timeout", "0"],
    ["--ca-bundle", "/nonexistent/ca.pem"],
    ["--tag", "Upper/Case:1"],
    ["--tag", "name:bad tag"],
])
def test_bad_arguments_exit_2(args):
    done = carpenter("rebuild", str(FIXTURES / "command-failed"), *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_missing_path_exit_2(tmp_path):
    done = carpenter("rebuild", str(tmp_path / "nope"))
    assert done.returncode == 2 and "no such file or folder" in done.stderr


def test_freeze_diff():
    from carpenter.rebuild.compare import freeze_diff

    assert freeze_diff(["a==1", "b==2"], ["a==1", "b==3", "c==1"]) == {
        "only_original": ["b==2"], "only_fixed": ["b==3", "c==1"]}
    assert freeze_diff(None, ["a==1"]) is None


@pytest.mark.parametrize("tag", ["myimg", "my-img:1.0", "localhost:5000/team/sub_mission:v2",
                                 "carpenter-test/rebuild:abc123-fixed"])
def test_valid_tags(tag):
    from carpenter.rebuild.cli import check_tag

    assert check_tag(tag) == tag


@pytest.mark.parametrize(("folder", "expected"), [
    ("My Sub.mission_1", "carpenter/rebuild-my-sub-mission-1:latest"),
    ("___", "carpenter/rebuild-build:latest"),
])
def test_default_tag_is_always_valid(tmp_path, folder, expected):
    from carpenter.rebuild.cli import check_tag
    from carpenter.rebuild.rebuild import default_tag

    (tmp_path / folder).mkdir()
    assert check_tag(default_tag(tmp_path / folder)) == expected
