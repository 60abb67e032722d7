"""One small file format for persistent caches of interpreter-specific data.

A cold `carpenter scan` is one short process; some of what it computes on every start is the
same each time for one interpreter (compiled regular expressions, generated code), so it is
kept in a file between runs. `marshal` is the cheapest way to read such values back (C, no
imports), but its format belongs to one Python version, and what the values become (regex
code, code objects) is trusted as if Carpenter had computed it. So a file is used only when:

- it holds the same key: the interpreter's identity (`sys.version`, the bytecode cache tag)
  plus the caller's own `key` (what else its values depend on);
- it is whole: magic, key, payload size and the payload's CRC32 all agree;
- it is not larger than MAX_PAYLOAD;
- it is a regular file owned by the current user and writable by no one else (a cache another
  user can write could hand us patterns or code).

Anything else reads as "no cache" (`load` returns None; it never raises or prints) and the
caller's next `save` replaces the file. `save` writes a private temporary file beside the
target and renames it over the target (readers see the old file or the new one, never half of
one); it returns False, silently, where it cannot write. A cache is an optimisation: no
failure here may change what Carpenter prints.

Layout: MAGIC | key length (4 bytes, big-endian) | key | payload length (4) | CRC32 (4) |
marshal bytes. Only os (and its stat), sys, marshal, zlib and contextlib are imported (no
pathlib or tempfile: the cold scan does not import them).
"""

from __future__ import annotations

import contextlib
import marshal
import os
import stat
import sys
import zlib

MAGIC = b"carpenter-marshal-1\n"
MAX_PAYLOAD = 16 * 1024 * 1024  # a cache this large is not saving time any more
_MAX_KEY = 64 * 1024
_WORD = 4  # bytes of each length / checksum field


def identity(key: bytes) -> bytes:
    """The full key a file is stored under: this interpreter plus the caller's key."""
    own = f"{sys.version}\0{sys.implementation.cache_tag}\0{marshal.version}\0".encode()
    return own + key


def load(path: str, key: bytes) -> object | None:
    """The payload saved at `path` under `key` by this interpreter, or None."""
    try:
        data = _read_trusted(path)
        return None if data is None else _decode(data, identity(key))
    except Exception:  # any failure (I/O, damaged marshal data) is "no cache"
        return None


def save(path: str, key: bytes, payload: object) -> bool:
    """Write `payload` to `path` under `key`, atomically; False when it could not."""
    try:
        body = marshal.dumps(payload)
    except ValueError:  # an object marshal cannot write: a caller's bug, still no cache
        return False
    if len(body) > MAX_PAYLOAD:
        return False
    full = identity(key)
    data = b"".join((MAGIC, _word(len(full)), full, _word(len(body)),
                     _word(zlib.crc32(body)), body))
    try:
        _write_atomic(path, data)
    except OSError:
        return False
    return True


def _word(value: int) -> bytes:
    return value.to_bytes(_WORD, "big")


def _read_trusted(path: str) -> bytes | None:
    """The file's bytes when it may be trusted (see the module docstring), else None."""
    # O_NOFOLLOW: a symlink planted in a shared folder is not followed; O_NONBLOCK: a FIFO
    # planted there does not hang the scan in open() (it then fails the regular-file test).
    flags = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
             | getattr(os, "O_NONBLOCK", 0))
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)  # of the file opened, not of whatever the name points at later
        if not _trusted(st) or st.st_size > len(MAGIC) + _MAX_KEY + MAX_PAYLOAD + 3 * _WORD:
            return None
        return _read_all(fd, st.st_size)
    finally:
        os.close(fd)


def _trusted(st: os.stat_result) -> bool:
    if not stat.S_ISREG(st.st_mode):
        return False
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # no POSIX owners or modes to check (Windows)
        return True
    return st.st_uid == getuid() and not st.st_mode & 0o022


def _read_all(fd: int, size: int) -> bytes:
    chunks = []
    left = size + 1  # one byte more: a file that grew since fstat is read short, then rejected
    while left > 0:
        chunk = os.read(fd, left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _decode(data: bytes, full_key: bytes) -> object | None:
    at = len(MAGIC)
    if data[:at] != MAGIC:
        return None
    key_len = int.from_bytes(data[at:at + _WORD], "big")
    at += _WORD
    if data[at:at + key_len] != full_key:
        return None
    at += key_len
    size = int.from_bytes(data[at:at + _WORD], "big")
    crc = int.from_bytes(data[at + _WORD:at + 2 * _WORD], "big")
    body = data[at + 2 * _WORD:]
    if size > MAX_PAYLOAD or len(body) != size or zlib.crc32(body) != crc:
        return None
    return marshal.loads(body)


def _write_atomic(path: str, data: bytes) -> None:
    # Not core.files.write_atomic: that one writes user outputs (fsync, the target's mode
    # kept, devices written through, InputError, tempfile imported). A private cache file
    # written at exit needs none of it: 0600 in a 0700 folder, OSError to the caller (False),
    # and no tempfile import on a cold scan.
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, mode=0o700, exist_ok=True)
    temp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}")
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_CLOEXEC", 0))
    fd = os.open(temp, flags, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        _unlink_quietly(temp)
        raise


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
