"""JSON twins of the TOML data files (core.tomldata, issue 14): used only while fresh, the TOML
otherwise, the same data and the same errors either way."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from carpenter.core import tomldata
from carpenter.core.errors import ConfigError
from carpenter.core.resources import data_dir, data_file
from carpenter.core.tomldata import TWIN_SUFFIX, TomlDataError, load_toml_data
from carpenter.core.tomldata_build import TWINNED, TwinError, main, render, stale

ROOT = Path(__file__).resolve().parents[2]


def test_every_twin_is_fresh() -> None:
    """Fails after a TOML edit without `python -m carpenter.core.tomldata_build` being run
    (the scan would still be right, but pay tomllib again)."""
    assert stale() == [], "run: python -m carpenter.core.tomldata_build"
    assert main(["--check"]) == 0


@pytest.mark.parametrize("name", TWINNED)
def test_a_twin_holds_what_tomllib_reads(name: str) -> None:
    with open(data_file(name), "rb") as handle:
        expected = tomllib.load(handle)
    loaded = load_toml_data(data_file(name))
    assert loaded == expected
    assert json.dumps(loaded) == json.dumps(expected)  # types and key order too


def test_a_fresh_twin_spares_the_toml_parse(monkeypatch) -> None:
    parses: list[bytes] = []
    monkeypatch.setattr(tomldata, "parse_toml", lambda raw: parses.append(raw) or {})
    for name in TWINNED:
        assert load_toml_data(data_file(name))
    assert parses == []


def test_a_scan_data_load_imports_no_tomllib() -> None:
    code = ("import sys\nfrom carpenter.core.shapes import secret_data\n"
            "from carpenter.scan.cuda import cuda_data\n"
            "from carpenter.scan.downloads import is_gated\n"
            "secret_data(); cuda_data(); is_gated('meta-llama/Llama-2-7b')\n"
            "assert 'tomllib' not in sys.modules, 'a twin was not used'\n")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(ROOT)})


@pytest.fixture
def data(tmp_path: Path, monkeypatch) -> Path:
    """An editable copy of the data folder (with its twins), in force for the loaders."""
    copy = tmp_path / "data"
    shutil.copytree(data_dir(), copy)
    monkeypatch.setenv("CARPENTER_DATA_DIR", str(copy))
    return copy


def test_an_edited_toml_is_read_despite_its_twin(data: Path) -> None:
    toml = data / "gated_models.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('"meta-llama/*"', '"acme/*"', 1),
                    encoding="utf-8")
    assert (data / f"gated_models.toml{TWIN_SUFFIX}").is_file()
    patterns = load_toml_data(str(toml))["patterns"]
    assert "acme/*" in patterns and "meta-llama/*" not in patterns


def test_same_size_edit_is_caught_by_the_checksum(data: Path) -> None:
    toml = data / "gated_models.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace('"meta-llama/*"', '"meta-alpaca*"', 1), encoding="utf-8")
    assert toml.stat().st_size == len(text.encode())
    assert "meta-alpaca*" in load_toml_data(str(toml))["patterns"]


@pytest.mark.parametrize("twin", [None, "", "{not json", "[]", '{"source": 3}',
                                  '{"source": {"size": 0, "crc32": 0}, "data": {}}'])
def test_a_missing_or_broken_twin_means_the_toml(data: Path, twin: str | None) -> None:
    toml = data / "secrets.toml"
    path = data / f"secrets.toml{TWIN_SUFFIX}"
    path.unlink()
    if twin is not None:
        path.write_text(twin, encoding="utf-8")
    with open(toml, "rb") as handle:
        assert load_toml_data(str(toml)) == tomllib.load(handle)


def test_a_twin_matching_the_bytes_is_trusted(tmp_path: Path) -> None:
    """What makes a twin used: its stamp, nothing else (the generator keeps the data right)."""
    toml = tmp_path / "x.toml"
    toml.write_bytes(b"a = 1\n")
    twin = {"source": tomldata.stamp(b"a = 1\n"), "data": {"from": "twin"}}
    (tmp_path / f"x.toml{TWIN_SUFFIX}").write_text(json.dumps(twin), encoding="utf-8")
    assert load_toml_data(str(toml)) == {"from": "twin"}


LOADERS = [
    ("secrets.toml", "carpenter.core.shapes", "secret_data", "cannot load secret patterns"),
    ("cuda_extensions.toml", "carpenter.scan.cuda", "cuda_data",
     "cannot load CUDA package facts"),
    ("gated_models.toml", "carpenter.scan.downloads", "_gated_patterns",
     "cannot load the gated model list"),
]


@pytest.mark.parametrize(("name", "module", "loader", "prefix"), LOADERS)
def test_a_bad_toml_is_the_same_located_error(data: Path, name: str, module: str, loader: str,
                                              prefix: str) -> None:
    import importlib

    toml = data / name
    broken = toml.read_bytes() + b"\n[unclosed\n"
    toml.write_bytes(broken)
    with pytest.raises(tomllib.TOMLDecodeError) as parsed:
        tomllib.loads(broken.decode())
    load = getattr(importlib.import_module(module), loader)
    load.cache_clear()
    try:
        with pytest.raises(ConfigError) as raised:
            load()
    finally:
        load.cache_clear()
    assert raised.value.message == f"{prefix}: {parsed.value}"  # tomllib's line and column
    assert raised.value.path == str(toml)


def test_a_missing_toml_is_an_error_even_with_a_twin(data: Path) -> None:
    (data / "secrets.toml").unlink()
    with pytest.raises(OSError):
        load_toml_data(str(data / "secrets.toml"))


def test_a_bad_toml_raises_tomllibs_message(tmp_path: Path) -> None:
    toml = tmp_path / "x.toml"
    toml.write_bytes(b"a = \n")
    with pytest.raises(TomlDataError, match=r"\(at line 1, column 5\)"):
        load_toml_data(str(toml))


@pytest.mark.parametrize("text", [b"when = 2024-01-01\n", b"at = 07:32:00\n",
                                  b"[t]\nx = [1979-05-27T07:32:00Z]\n", b"f = nan\n",
                                  b"f = -inf\n"])
def test_the_generator_refuses_what_json_cannot_hold(text: bytes) -> None:
    with pytest.raises(TwinError, match="TOML-only"):
        render(text)


def test_the_generator_rewrites_a_stale_twin(data: Path, capsys) -> None:
    toml = data / "cuda_extensions.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert main(["--check"]) == 1
    assert "cuda_extensions.toml.json is out of date" in capsys.readouterr().err
    assert main([]) == 0
    assert main(["--check"]) == 0
    twin = json.loads((data / f"cuda_extensions.toml{TWIN_SUFFIX}").read_text(encoding="utf-8"))
    assert twin["source"] == tomldata.stamp(toml.read_bytes())
