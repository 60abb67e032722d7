"""Snapshot format: load by name or file, lookups, round trip through the writer, errors."""

from __future__ import annotations

import pytest
from packaging.version import Version

from carpenter.core.errors import SnapshotError
from carpenter.snapshot.dump import dump_snapshot
from carpenter.snapshot.model import (
    load_snapshot,
    normalize_git_url,
    normalize_image_ref,
    parse_snapshot,
)

MINIMAL = b"""
schema = 1
name = "tiny"
as_of = 2023-10-25
[target]
python = "3.10"
platform = "x86_64-unknown-linux-gnu"
torch = "2.1.0"
cuda = "12.1"
cxx11_abi = false
[pypi]
Torch = "2.1.0"
"Flash_Attn" = "2.3.3"
transformers = "4.34.1"
[base_images."docker.io/library/python:3.10-slim"]
digest = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
[git."https://github.com/Dao-AILab/flash-attention.git"]
commit = "0123456789abcdef0123456789abcdef01234567"
ref = "v2.3.3"
[[cuda_wheels]]
package = "flash_attn"
version = "2.3.3"
torch = "2.1"
cuda = "12.2"
python = "3.10"
cxx11_abi = false
url = "https://example.invalid/flash_attn.whl"
[[overrides]]
id = "ds"
when = ["deepspeed"]
pins = { pydantic = "1.10.13", "Transformers" = "4.33.3" }
reason = "needs pydantic 1"
refs = ["x/y#1"]
"""


def test_names_are_normalized_and_lookups_work():
    snap = parse_snapshot(MINIMAL)
    assert snap.as_of == "2023-10-25"
    assert snap.version("torch") == ("2.1.0", "snapshot")
    assert snap.version("flash-attn")[0] == "2.3.3"
    assert snap.image_digest("python:3.10-slim").endswith("01")
    assert snap.image_digest("python:3.11-slim") is None
    assert snap.git_commit("git+https://github.com/dao-ailab/flash-attention@main#egg=x") \
        == "0123456789abcdef0123456789abcdef01234567"


def test_override_applies_only_when_its_packages_are_installed():
    snap = parse_snapshot(MINIMAL)
    assert snap.version("transformers", {"torch"}) == ("4.34.1", "snapshot")
    assert snap.version("transformers", {"DeepSpeed", "torch"}) == ("4.33.3", "override:ds")
    assert snap.version("pydantic", {"deepspeed"})[0] == "1.10.13"


def test_cuda_wheel_matches_on_cuda_major_and_exact_python():
    snap = parse_snapshot(MINIMAL)
    assert snap.cuda_wheel("flash-attn", "2.1.0", "12.1", "3.10") is not None
    assert snap.cuda_wheel("flash-attn", "2.1.0", "11.8", "3.10") is None
    assert snap.cuda_wheel("flash-attn", "2.1.0", "12.1", "3.11") is None
    assert snap.cuda_wheel("flash-attn", "2.0.1", "12.1", "3.10") is None


def test_round_trip_through_the_writer_keeps_every_table():
    snap = parse_snapshot(MINIMAL)
    again = parse_snapshot(dump_snapshot(snap, "comment\nsecond line").encode())
    assert again.pypi == snap.pypi
    assert again.base_images.keys() == snap.base_images.keys()
    assert again.git == {k: v for k, v in snap.git.items()}
    assert again.cuda_wheels == snap.cuda_wheels
    assert again.overrides == snap.overrides
    assert again.target == snap.target


@pytest.mark.parametrize("ref,expected", [
    ("python:3.10", "python:3.10"),
    ("docker.io/library/python:3.10", "python:3.10"),
    ("ubuntu", "ubuntu:latest"),
    ("nvcr.io/nvidia/pytorch:23.10-py3", "nvcr.io/nvidia/pytorch:23.10-py3"),
    ("localhost:5000/img", "localhost:5000/img:latest"),
])
def test_image_refs_normalize(ref, expected):
    assert normalize_image_ref(ref) == expected


def test_git_urls_normalize():
    keys = {normalize_git_url(u) for u in (
        "https://github.com/Dao-AILab/flash-attention.git",
        "git+https://github.com/Dao-AILab/flash-attention@v2.3.3#egg=flash-attn",
        "git@github.com:Dao-AILab/flash-attention.git",
        "https://user:secret@github.com/Dao-AILab/flash-attention/")}
    assert keys == {"github.com/dao-ailab/flash-attention"}


@pytest.mark.parametrize("data,needle", [
    (b"name = 1", "missing key"),
    (b"[[[", "invalid TOML"),
    (b'name="x"\nas_of="2023-01-01"\n[target]\npython="3.10"\nplatform="p"\n'
     b'[base_images."a:b"]\ndigest="sha256:abc"', "digest must be"),
    (b'schema = 9\nname="x"', "unsupported schema"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_malformed_snapshots_raise_located_errors(data, needle):
    with pytest.raises(SnapshotError) as info:
        parse_snapshot(data)
    assert needle in str(info.value)


def test_unknown_names_and_missing_files_are_snapshot_errors(tmp_path):
    with pytest.raises(SnapshotError, match="no bundled snapshot"):
        load_snapshot("no-such-snapshot")
    with pytest.raises(SnapshotError, match="not found"):
        load_snapshot(tmp_path / "missing.toml")


def test_bundled_neurips_2023_snapshot_is_complete_and_dated():
    snap = load_snapshot("neurips-2023")
    assert snap.as_of == "2023-10-25"
    assert snap.target.python == "3.10" and snap.target.torch == "2.1.0"
    assert len(snap.pypi) >= 150
    for name in ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "datasets",
                 "tokenizers", "sentencepiece", "einops", "safetensors", "huggingface-hub",
                 "trl", "deepspeed", "flash-attn", "xformers", "lightning", "scipy", "numpy",
                 "fastapi", "uvicorn", "pydantic", "wandb", "protobuf"):
        assert name in snap.pypi, name
    # Released after 2023-10-25: none of these may appear.
    assert Version(snap.pypi["transformers"]) < Version("4.35.0")
    assert Version(snap.pypi["torch"]) < Version("2.1.1")
    assert Version(snap.pypi["peft"]) < Version("0.6.0")
    assert snap.provenance["upload_times_verified"] is True
    assert snap.provenance["exclude_newer"] == "2023-10-26T00:00:00Z"
    assert snap.apt["debian"].url.endswith("20231025T000000Z")
    assert all(o.refs for o in snap.overrides)
