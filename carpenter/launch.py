"""The `carpenter` console script: hands `carpenter scan` to a running scan server, if any.

A cold `carpenter scan` spends most of its time importing (click, detect-secrets, the rules)
and loading data. `carpenter server start` keeps one warmed-up process per install; this
launcher, which imports only the standard library's smallest modules, passes the server its
stdin/stdout/stderr (SCM_RIGHTS), argv, cwd, environment and umask over a unix socket and waits
for the exit code. The server forks, and the fork runs the very `cli.main` an in-process run
would, on the caller's own file descriptors: output, colour, redaction and exit codes are the
same bytes.

Anything short of a server that says it has started the command (no runtime dir, no socket,
a stale socket, another install's server, a protocol error, a timeout) runs the command here,
in-process, exactly as before: the server can make a scan faster, never lose it.

This module is imported on every `carpenter` run. A served run may load nothing that a bare
`python -c pass` has not loaded already, besides the C modules `_socket` and `_locale`: the
`socket` wrapper pulls in selectors and enum, `json` pulls in `re`: each a few ms of a ~30 ms
served scan (a test checks the set). For the same reason no `from __future__ import annotations`
(it imports the `__future__` module): the annotations here are valid at run time on 3.11.
"""

import os
import sys

TYPE_CHECKING = False  # typing itself is not imported: every client would pay for it
if TYPE_CHECKING:
    from collections.abc import Callable

# The request: MAGIC, the payload's length (8 bytes, big-endian), then the payload: a sequence
# of items, each a 4-byte big-endian length and that many bytes (docs/server.md, "The
# request"). CARPSRV1 was a JSON payload: a server of that protocol refuses this one.
MAGIC = b"CARPSRV2"
HEADER = len(MAGIC) + 8
# Server: READY (or REFUSED); client: GO; server: EXIT + 4-byte exit code. INTERRUPT: the
# client's Ctrl-C, sent while it waits for EXIT.
READY, GO, REFUSED, EXIT, INTERRUPT = b"S", b"G", b"N", b"E", b"I"
START_TIMEOUT_S = 10.0  # a server at its worker cap answers late; past this, run here
SERVED = ("scan",)  # commands the server runs; everything else starts in-process


def runtime_dir() -> str:
    """Where sockets live: $CARPENTER_RUNTIME_DIR, else $XDG_RUNTIME_DIR/carpenter, else
    /tmp/carpenter-<uid>."""
    chosen = os.environ.get("CARPENTER_RUNTIME_DIR")
    if chosen:
        return os.path.abspath(chosen)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "carpenter")
    return f"/tmp/carpenter-{os.getuid()}"


def runtime_dir_problem(path: str) -> str | None:
    """Why `path` must not hold our sockets (None: it may). Another user who can write there
    could plant a socket that receives our terminal and environment."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    import stat

    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    if st.st_uid != os.getuid():
        return f"{path} belongs to uid {st.st_uid}, not to this user ({os.getuid()})"
    if st.st_mode & 0o022:
        return (f"{path} is writable by group or others (mode {st.st_mode & 0o777:o}); "
                f"run `chmod 700 {path}`")
    return None


def _tree_stamps(root: str, out: list[str]) -> None:
    """Each folder under root, then name, mtime and size of each of its files (__pycache__ left
    out). In the file system's own order, not sorted (~0.5 ms of a ~2 ms key): an unchanged
    folder lists the same way, and a reordered one only makes the key miss (run in-process),
    never match a changed tree."""
    stack = [root]
    while stack:
        folder = stack.pop()
        out.append(folder)
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != "__pycache__":
                            stack.append(entry.path)
                        continue
                    st = entry.stat()  # a linked file: its target's stamp
                    out.append(f"{entry.name}:{st.st_mtime_ns}:{st.st_size}")
        except OSError:
            out.append("unreadable")


def install_key() -> str:
    """A key for "this Carpenter, on this interpreter, configured this way". A server answers
    only clients with its own key, so a differently configured install never talks to it: the
    key covers Carpenter's version and folder, the interpreter and its flags, every import path
    (after the first, the script's own folder, with its mtime, which changes when a package is
    installed or removed there), and the settings a server fixes at start-up (hash seed, text
    encoding, data folder). Carpenter's own files are not stamped here (a stat per file, ~1.5
    ms of each client): the server watches them from before it loads them and stops at their
    first change (`install_stamps`, `carpenter.daemon.InstallWatch`). Not a security
    boundary (the private runtime dir and the peer's uid are), so a fast checksum is enough."""
    from carpenter import __version__

    package, *data = install_roots()
    parts = [__version__, sys.executable, sys.version, package, repr(tuple(sys.flags)),
             repr(sys.warnoptions), repr(sorted(sys._xoptions.items())),
             os.environ.get("PYTHONHASHSEED", ""), sys.getfilesystemencoding(),
             _locale_encoding()]
    parts.append(sys.path[0] if sys.path else "")  # the script's folder (or the cwd, for -m)
    for entry in sys.path[1:]:
        try:
            parts.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            parts.append(f"{entry}:-")
    # the server loads its data tables once: they must be the client's
    parts += [f"data:{folder}" for folder in data]
    return _checksum("\n".join(parts).encode("utf-8", "surrogateescape"))


def install_roots() -> list[str]:
    """The folders whose files a server loads: the package, and CARPENTER_DATA_DIR if set."""
    roots = [os.path.dirname(os.path.abspath(__file__))]
    override = os.environ.get("CARPENTER_DATA_DIR") or os.environ.get("CARPENTER_RULES_DIR")
    if override:
        roots.append(os.path.abspath(override))
    return roots


def install_stamps() -> str:
    """A checksum of the name, mtime and size of every file under install_roots(): the server
    takes it when `start` runs and checks it once its watch is in place (and on every request
    where the file system cannot be watched)."""
    parts: list[str] = []
    for root in install_roots():
        _tree_stamps(root, parts)
    return _checksum("\n".join(parts).encode("utf-8", "surrogateescape"))


def _checksum(blob: bytes) -> str:
    """16 hex digits over `blob`: the number it spells modulo two primes below 2**32 (no
    `zlib`: its import alone costs more than both divisions). A change within 7 bytes (an
    mtime) moves the number by d * 256**k with 0 < |d| < 2**56, which the primes' product
    cannot divide: the key always changes; a scattered change keeps it with a 2**-63
    chance."""
    number = int.from_bytes(blob, "big")
    return f"{number % 4294967291:08x}{number % 2147483647:08x}"


def _locale_encoding() -> str:
    import _locale

    getencoding = getattr(_locale, "getencoding", None)  # 3.11+
    return getencoding() if getencoding else ""


def socket_path(key: str, folder: str | None = None) -> str:
    return os.path.join(folder or runtime_dir(), f"scan-{key}.sock")


def _stream_items(stream: object) -> list[bytes] | None:
    """How this interpreter set up a standard stream (encoding, errors, line buffering,
    write-through), so the server's fork builds the same; None when it is not a text stream
    (the scan then runs here)."""
    encoding = getattr(stream, "encoding", None)
    if not isinstance(encoding, str):
        return None
    return [encoding.encode(), str(getattr(stream, "errors", "strict")).encode(),
            b"1" if getattr(stream, "line_buffering", False) else b"0",
            b"1" if getattr(stream, "write_through", False) else b"0"]


def scan_items(key: str) -> list[bytes] | None:
    """The items of a scan request (None: run here): op, key, cwd, umask (octal), 4 items per
    standard stream, argc, argv, then one `NAME=value` item per environment variable. Paths,
    argv and the environment go as the bytes the OS has (argv re-encoded as the interpreter
    decoded it), so undecodable names survive. ValueError/OSError: run here."""
    streams: list[bytes] = []
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        items = _stream_items(stream)
        if items is None:
            return None
        streams += items
    umask = os.umask(0o022)
    os.umask(umask)
    encoding = sys.getfilesystemencoding()
    argv = [arg.encode(encoding, "surrogateescape") for arg in sys.argv]
    env = [name + b"=" + value for name, value in os.environb.items()]
    return [b"scan", key.encode(), os.getcwdb(), b"%o" % umask, *streams,
            b"%d" % len(argv), *argv, *env]


def encode_request(items: list[bytes]) -> bytes:
    """MAGIC, the payload length, then each item as a 4-byte length and its bytes."""
    payload = b"".join([len(item).to_bytes(4, "big") + item for item in items])
    return MAGIC + len(payload).to_bytes(8, "big") + payload


def connect(path: str, timeout: float) -> object:
    """A connected unix socket to the server at `path` (OSError when none answers)."""
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        # The peer must be us: our private dir already ensures it, this costs one syscall.
        cred = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
        if int.from_bytes(cred[4:8], sys.byteorder) != os.getuid():
            raise OSError("scan server runs as another user")
    except BaseException:
        sock.close()
        raise
    return sock


def send_request(sock: object, request: bytes, fds: list[int]) -> None:
    """Send an encoded request, with `fds` (SCM_RIGHTS: an array of C ints, built here
    without the `array` module)."""
    import _socket

    rights = b"".join([fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds])
    ancillary = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)] if fds else []
    sent = sock.sendmsg([request], ancillary)
    if sent < len(request):
        sock.sendall(request[sent:])


def recv_exact(sock: object, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("scan server closed the connection")
        data += chunk
    return data


def _try_server() -> int | None:
    """The command's exit code when the server ran it; None to run it here."""
    if not sys.platform.startswith("linux"):
        return None  # the server needs SO_PEERCRED and /proc
    folder = runtime_dir()
    problem = runtime_dir_problem(folder)
    if problem == "missing":
        return None  # no server was ever started: the common case, say nothing
    if problem:
        sys.stderr.write(f"carpenter: not using the scan server: {problem}\n")
        return None
    try:
        fds = [0, 1, 2]
        for fd in fds:
            os.fstat(fd)  # a closed standard stream: let the in-process run deal with it
        key = install_key()
        items = scan_items(key)
        if items is None:
            return None
        request = encode_request(items)  # before connecting: a waiting worker waits less
        sock = connect(socket_path(key, folder), START_TIMEOUT_S)
    except (OSError, ValueError):  # ValueError: an argv or stream name that does not encode
        return None
    try:
        send_request(sock, request, fds)
        if recv_exact(sock, 1) != READY:
            sock.close()
            return None  # refused (another key, a bad request): run here
        sock.sendall(GO)  # from here on the server owns the command
    except (OSError, ValueError):
        sock.close()
        return None
    return _wait_exit(sock)


def _wait_exit(sock: object) -> int:
    sock.settimeout(None)
    try:
        reply = recv_exact(sock, 5)
    except KeyboardInterrupt:
        return _interrupt(sock)
    except (OSError, ValueError):
        reply = b""
    sock.close()
    if reply[:1] != EXIT:
        # Output may already be on the caller's stdout: running again would print it twice.
        sys.stderr.write("carpenter: error: the scan server's worker stopped before the scan "
                         "finished; run the scan again (`carpenter server stop` turns the "
                         "server off)\n")
        return 2
    return int.from_bytes(reply[1:5], "big", signed=True)


def _interrupt(sock: object) -> int:
    """Ctrl-C: tell the worker, which interrupts itself as a terminal's Ctrl-C would (and
    prints what an interrupted run prints), and end with its exit status (130 if it does not
    answer in 3 s)."""
    try:
        sock.sendall(INTERRUPT)
        sock.settimeout(3.0)
        reply = recv_exact(sock, 5)
        return int.from_bytes(reply[1:5], "big", signed=True) if reply[:1] == EXIT else 130
    except (OSError, ValueError, KeyboardInterrupt):
        return 130
    finally:
        sock.close()


def _exit_now(code: int) -> None:
    """End with the served command's status. The server's fork already ran the interpreter's
    exit steps for the command; tearing down this small interpreter too would only keep the
    caller waiting (~5 ms)."""
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 - contextlib is one more import for every client
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code & 0xFF)


def main() -> None:
    if sys.argv[1:2] and sys.argv[1] in SERVED and not os.environ.get("CARPENTER_NO_SERVER"):
        try:
            code = _try_server()
        except KeyboardInterrupt:  # as cli.main reports it
            sys.stderr.write("carpenter: interrupted\n")
            code = 130
        if code is not None:
            _exit_now(code)
    _import_cli()()


def _import_cli() -> "Callable[[], None]":
    """`cli.main`, imported the cheap way. The imports build tens of thousands of objects and
    none of them is garbage, so the collector only re-walks them (~8% of a cold scan): it is
    off while they run, and what they built is frozen (never walked again) before it is back
    on for the command. Before click and json are imported, their import-time patterns come
    from the pattern cache; once imported, what they compiled is kept for the next process."""
    import gc

    from carpenter.core.patterncache import note_imports, preload

    enabled = gc.isenabled()
    gc.disable()
    try:
        preload()
        from carpenter.cli import main as cli_main

        note_imports()
        gc.freeze()
    finally:
        if enabled:
            gc.enable()
    return cli_main


if __name__ == "__main__":
    main()
