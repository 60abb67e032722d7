"""The served-scan request: `launch.encode_request` and the server's strict `parse_request`.

Anything the worker cannot reproduce exactly must be refused (the client then scans
in-process): the parser answers None, never raises, on any bytes. No test here uses the real
environment (it carries tokens, and a failing assertion prints what it compares).
"""

from __future__ import annotations

import os
import random
import sys

import pytest

from carpenter import launch
from carpenter.daemon import (
    HEADER,
    MAX_REQUEST_BYTES,
    MAX_REQUEST_ITEMS,
    Request,
    StreamSpec,
    parse_request,
)
from carpenter.launch import MAGIC, encode_request

KEY = "0123456789abcdef"
ENV = {b"PATH": b"/usr/bin:/bin", b"LANG": b"C.UTF-8", b"EMPTY": b"", b"EQ": b"a=b=c",
       b"LATIN": b"caf\xe9"}
STREAMS = [b"utf-8", b"strict", b"0", b"0", b"utf-8", b"strict", b"1", b"0",
           b"utf-8", b"backslashreplace", b"1", b"1"]


def scan_items(argv: list[bytes] | None = None, env: dict[bytes, bytes] | None = None,
               cwd: bytes = b"/tmp", umask: bytes = b"22",
               streams: list[bytes] | None = None) -> list[bytes]:
    argv = [b"carpenter", b"scan", b"."] if argv is None else argv
    env = ENV if env is None else env
    return [b"scan", KEY.encode(), cwd, umask, *(STREAMS if streams is None else streams),
            b"%d" % len(argv), *argv, *(k + b"=" + v for k, v in env.items())]


def valid() -> bytes:
    return encode_request(scan_items())


def test_a_scan_request_round_trips() -> None:
    request = parse_request(valid())
    assert request == Request(
        "scan", KEY, b"/tmp", 0o22,
        (StreamSpec("utf-8", "strict", False, False), StreamSpec("utf-8", "strict", True, False),
         StreamSpec("utf-8", "backslashreplace", True, True)),
        ("carpenter", "scan", "."), tuple(ENV.items()))


def test_edges_that_are_valid() -> None:
    for items in (scan_items(env={}), scan_items(umask=b"0"), scan_items(umask=b"777"),
                  scan_items(argv=[b"carpenter"]), scan_items(argv=[b""])):
        assert parse_request(encode_request(items)) is not None


def test_the_clients_own_items_parse_back(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the launcher sends: argv as the interpreter decoded it (an undecodable byte comes
    # back as the same surrogate), the environment's bytes in its order, umask, cwd.
    odd = os.fsdecode(b"sub\xff")
    monkeypatch.setattr(sys, "argv", ["carpenter", "scan", odd])
    monkeypatch.setattr(os, "environb", dict(ENV))
    items = launch.scan_items(KEY)
    assert items is not None
    request = parse_request(encode_request(items))
    assert request is not None
    assert request.argv == ("carpenter", "scan", odd)
    assert request.env == tuple(ENV.items())
    assert request.cwd == os.getcwdb()
    umask = os.umask(0o022)
    os.umask(umask)
    assert request.umask == umask
    assert [s.encoding for s in request.streams] == \
        [s.encoding for s in (sys.stdin, sys.stdout, sys.stderr)]


def test_control_requests() -> None:
    for op in ("status", "stop"):
        assert parse_request(encode_request([op.encode(), KEY.encode()])) == Request(op, KEY)
        assert parse_request(encode_request([op.encode(), KEY.encode(), b"x"])) is None


def _with_size(payload: bytes, size: int) -> bytes:
    return MAGIC + size.to_bytes(8, "big") + payload


REFUSED = {
    "empty": b"",
    "header only": MAGIC,
    "old protocol (JSON)": b"CARPSRV1" + (17).to_bytes(8, "big") + b'{"op": "status"}',
    "wrong magic": b"CARPSRV9" + valid()[len(MAGIC):],
    "length past the end": _with_size(valid()[HEADER:], len(valid()) - HEADER + 1),
    "length short of the end": _with_size(valid()[HEADER:], len(valid()) - HEADER - 1),
    "oversized": _with_size(b"", MAX_REQUEST_BYTES + 1),
    "item past the end": _with_size(b"\0\0\0\x09scan", 8),
    "partial item length": _with_size(b"\0\0", 2),
    "no key": encode_request([b"status"]),
    "unknown op": encode_request([b"exec", KEY.encode()]),
    "op not UTF-8": encode_request([b"st\xffatus", KEY.encode()]),
    "key not UTF-8": encode_request([b"status", b"\xc3"]),
    "missing fields": encode_request(scan_items()[:10]),
    "no argv": encode_request(scan_items(argv=[])),
    "argc past the items": encode_request(scan_items(env={})[:-1]),
    "argc not a number": encode_request([*scan_items()[:16], b"3x", *scan_items()[17:]]),
    "umask not octal": encode_request(scan_items(umask=b"8")),
    "umask too big": encode_request(scan_items(umask=b"1000")),
    "empty cwd": encode_request(scan_items(cwd=b"")),
    "NUL in cwd": encode_request(scan_items(cwd=b"/t\0mp")),
    "NUL in argv": encode_request(scan_items(argv=[b"carpenter", b"sc\0an"])),
    "flag not 0/1": encode_request(scan_items(streams=[*STREAMS[:2], b"2", *STREAMS[3:]])),
    "encoding not UTF-8": encode_request(scan_items(streams=[b"\xff", *STREAMS[1:]])),
    "empty encoding": encode_request(scan_items(streams=[b"", *STREAMS[1:]])),
    "env item without =": encode_request([*scan_items(env={}), b"PATH"]),
    "env item without a name": encode_request([*scan_items(env={}), b"=x"]),
    "NUL in env": encode_request(scan_items(env={b"A": b"x\0y"})),
    "env name twice": encode_request([*scan_items(env={}), b"A=1", b"A=2"]),
    "too many items": encode_request([b"status", KEY.encode(), *[b""] * MAX_REQUEST_ITEMS]),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_malformed_requests_are_refused(name: str) -> None:
    assert parse_request(REFUSED[name]) is None


def test_fuzz_never_raises() -> None:
    # Random bytes, each truncation of a valid request, and random corruptions of one: a
    # request or a refusal, never an exception (a traceback in the server, or a hang).
    rng = random.Random(14)
    good = valid()
    for size in range(len(good)):
        assert parse_request(good[:size]) is None
    for _ in range(3000):
        blob = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        result = parse_request(bytes(blob))
        assert result is None or isinstance(result, Request)
    for _ in range(3000):
        blob = rng.randbytes(rng.randint(0, 200))
        if rng.random() < 0.5:
            blob = MAGIC + (len(blob)).to_bytes(8, "big") + blob
        result = parse_request(blob)
        assert result is None or isinstance(result, Request)


SET_ENVIRONMENT = """
import os, subprocess
from carpenter.daemon import _set_environment
pairs = ((b"ZZ", b"new"), (b"PATH", b"/changed"), (b"A", b"same"))
_set_environment(pairs)
assert tuple(os.environb.items()) == pairs, "os.environ: the client's variables, in its order"
seen = subprocess.run(["/usr/bin/env"], capture_output=True, check=True).stdout.splitlines()
assert sorted(seen) == sorted(b"=".join(pair) for pair in pairs), "the C environ"
"""


def test_the_worker_takes_the_clients_environment() -> None:
    # Only the differences are applied (each putenv costs page faults in a fresh fork): a
    # variable the client lacks goes, a changed one changes, a new one comes.
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "A": "same", "GONE": "x"}
    subprocess.run([sys.executable, "-c", SET_ENVIRONMENT], env=env, check=True, timeout=60)
