"""core.lazyre: patterns compiled on first use behave as the compiled pattern, and a bad pattern
from a data file is a located ConfigError."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from carpenter.core.errors import ConfigError
from carpenter.core.lazyre import LazyPattern, lazy_compile, lazy_compile_bytes
from carpenter.core.resources import data_dir

ROOT = Path(__file__).resolve().parents[2]


def test_a_lazy_pattern_answers_as_the_compiled_one() -> None:
    source = r"(?P<key>[a-z]+)=(?P<value>\d+)"
    lazy, real = lazy_compile(source, re.IGNORECASE), re.compile(source, re.IGNORECASE)
    text = "A=1 b=22 c=x"
    assert [m.groupdict() for m in lazy.finditer(text)] == [m.groupdict()
                                                              for m in real.finditer(text)]
    assert lazy.search(text).group("value") == "1"  # type: ignore[union-attr]
    assert lazy.sub("-", text) == real.sub("-", text)
    assert lazy.fullmatch("k=3") is not None and lazy.match("=3") is None
    assert lazy.findall(text) == real.findall(text) and lazy.split(text) == real.split(text)
    assert lazy.groupindex == real.groupindex and lazy.pattern == source
    assert lazy_compile_bytes(rb"hf_").search(b"x hf_y") is not None


def test_nothing_compiles_before_first_use() -> None:
    pattern = LazyPattern("(unclosed")  # would raise at re.compile
    assert pattern.pattern == "(unclosed"
    with pytest.raises(re.error):  # a pattern of the code: a bug, raised as is
        pattern.search("x")


def test_after_first_use_the_methods_are_the_compiled_patterns() -> None:
    pattern = LazyPattern("a+")
    assert pattern.search("baa") is not None
    assert pattern.search == pattern.compiled().search  # bound onto the object: no wrapper


def test_a_bad_data_pattern_is_a_config_error_naming_its_file() -> None:
    with pytest.raises(ConfigError) as caught:
        lazy_compile("(?P<x", 0, origin="/data/secrets.toml").search("x")
    assert caught.value.path == "/data/secrets.toml"
    assert "(?P<x" in str(caught.value)


def test_every_shipped_data_pattern_compiles() -> None:
    """The data files' patterns no longer compile at load: compile each one here instead."""
    from carpenter.core.shapes import secret_data
    from carpenter.scan.cuda import cuda_data

    data, cuda = secret_data(), cuda_data()
    patterns = [value for value in vars(data).values() if isinstance(value, LazyPattern)]
    patterns += [getattr(value, name) for value in (*data.tokens, *data.contextual)
                 for name in ("regex", "strict", "keywords") if hasattr(value, name)]
    patterns += [regex for regex, _ in cuda.images] + [cuda.build_tool_cuda]
    lazies = [p for p in patterns if isinstance(p, LazyPattern)]
    assert len(lazies) > 30
    for pattern in lazies:
        assert isinstance(pattern.compiled(), re.Pattern)


def test_a_scan_with_an_edited_secret_pattern_is_a_clear_error(tmp_path: Path) -> None:
    """CARPENTER_DATA_DIR at a copy whose token pattern is broken: exit 2, the file named,
    no traceback (as when the patterns compiled at load)."""
    data = tmp_path / "data"
    shutil.copytree(data_dir(), data)
    toml = data / "secrets.toml"
    text = toml.read_text(encoding="utf-8")
    assert 'prefix = "hf_"' in text
    toml.write_text(text.replace('prefix = "hf_"', 'prefix_regex = "(hf_"', 1), encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "Dockerfile").write_text("FROM python:3.11\nENV HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz"
                                    "ABCDEFGH\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "carpenter.cli", "scan", "--no-cache", str(sub)],
                          capture_output=True, text=True, cwd=ROOT, check=False,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                               "CARPENTER_DATA_DIR": str(data)})
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "secrets.toml: SEC001: invalid pattern" in output and "Traceback" not in output
