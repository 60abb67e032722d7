"""core.marshalfile: a cache file is read back only when it is whole, ours, private and of
this interpreter; anything else reads as "no cache", silently; saving is atomic and never
raises."""

from __future__ import annotations

import os
import stat
import sys
import zlib
from pathlib import Path

import pytest

from carpenter.core import marshalfile

PAYLOAD = {("a+", 0): (32, b"\x01\x02", 0, {"x": 1}, (None, "x")), "list": [1, 2.5, None]}


def _saved(tmp_path: Path, key: bytes = b"k") -> Path:
    path = tmp_path / "cache" / "c.marshal"
    assert marshalfile.save(str(path), key, PAYLOAD)
    return path


def test_what_is_saved_loads_back_private(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    assert marshalfile.load(str(path), b"k") == PAYLOAD
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(os.listdir(path.parent)) == ["c.marshal"]  # no temporary file left


def test_a_missing_file_is_none(tmp_path: Path) -> None:
    assert marshalfile.load(str(tmp_path / "absent.marshal"), b"k") is None


def test_another_key_or_interpreter_is_none(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = _saved(tmp_path)
    assert marshalfile.load(str(path), b"other") is None
    assert marshalfile.load(str(path), b"k2") is None  # not a prefix match either
    monkeypatch.setattr(sys, "version", sys.version + " (another build)")
    assert marshalfile.load(str(path), b"k") is None


@pytest.mark.parametrize("cut", [0, 1, 10, 30, -20, -1])
def test_a_truncated_file_is_none(tmp_path: Path, cut: int) -> None:
    path = _saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    assert marshalfile.load(str(path), b"k") is None


def test_a_damaged_or_grown_file_is_none(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    data = path.read_bytes()
    for at in (0, len(marshalfile.MAGIC) + 6, len(data) - 5):  # magic, key, payload
        damaged = bytearray(data)
        damaged[at] ^= 0x20
        path.write_bytes(bytes(damaged))
        assert marshalfile.load(str(path), b"k") is None, at
    path.write_bytes(data + b"\0")
    assert marshalfile.load(str(path), b"k") is None


def test_damaged_marshal_data_with_a_matching_checksum_is_none(tmp_path: Path) -> None:
    """The CRC guards against accidents; bytes marshal refuses must not raise either."""
    path = tmp_path / "c.marshal"
    full = marshalfile.identity(b"k")
    body = b"\xff\x00garbage"
    path.write_bytes(b"".join((marshalfile.MAGIC, len(full).to_bytes(4, "big"), full,
                               len(body).to_bytes(4, "big"),
                               zlib.crc32(body).to_bytes(4, "big"), body)))
    path.chmod(0o600)
    assert marshalfile.load(str(path), b"k") is None


def test_a_file_of_another_user_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _saved(tmp_path)
    owner = path.stat().st_uid
    monkeypatch.setattr(os, "getuid", lambda: owner + 1)  # as if the file were someone else's
    assert marshalfile.load(str(path), b"k") is None


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666, 0o777])
def test_a_file_others_can_write_is_none(tmp_path: Path, mode: int) -> None:
    path = _saved(tmp_path)
    path.chmod(mode)
    assert marshalfile.load(str(path), b"k") is None


def test_a_file_others_can_only_read_is_used(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    path.chmod(0o644)
    assert marshalfile.load(str(path), b"k") == PAYLOAD


def test_a_symlink_a_folder_or_a_fifo_is_none(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    link = tmp_path / "link.marshal"
    link.symlink_to(path)
    assert marshalfile.load(str(link), b"k") is None
    assert marshalfile.load(str(tmp_path), b"k") is None
    fifo = tmp_path / "fifo.marshal"
    os.mkfifo(fifo, 0o600)
    assert marshalfile.load(str(fifo), b"k") is None  # returns at once: no writer is awaited


def test_an_oversized_payload_is_neither_saved_nor_loaded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _saved(tmp_path)
    monkeypatch.setattr(marshalfile, "MAX_PAYLOAD", 8)
    assert marshalfile.load(str(path), b"k") is None
    assert not marshalfile.save(str(tmp_path / "big.marshal"), b"k", PAYLOAD)
    assert not (tmp_path / "big.marshal").exists()


def test_saving_where_it_cannot_write_is_false_and_quiet(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert not marshalfile.save(str(blocker / "sub" / "c.marshal"), b"k", PAYLOAD)
    assert not marshalfile.save(str(tmp_path / "c.marshal"), b"k", object())  # not marshalable
    assert capfd.readouterr() == ("", "")


def test_a_failed_rename_leaves_no_temporary_file(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise PermissionError("no")

    monkeypatch.setattr(os, "replace", refuse)
    assert not marshalfile.save(str(tmp_path / "c.marshal"), b"k", PAYLOAD)
    assert os.listdir(tmp_path) == []


def test_saving_replaces_a_bad_file(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    path.write_bytes(b"junk")
    path.chmod(0o666)
    assert marshalfile.save(str(path), b"k", [1])
    assert marshalfile.load(str(path), b"k") == [1]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
