"""`carpenter server start|stop|status`: a warmed-up process that runs `carpenter scan`.

One server per install (see `carpenter.launch.install_key`), listening on a unix socket in a
private runtime dir. At start it learns, from one scan of a bundled sample run in a throw-away
child (data/server/warmup.toml), which modules and regular expressions a scan loads, and loads
them itself; it then loads the data tables listed in PRIMERS. It never scans in its own
process, so it holds no path, git or secret state of any submission.

Each request is served by a fork, made in advance (a spare waits on a socketpair for the
connection the server accepted): the fork takes the client's stdin/stdout/stderr, cwd,
environment, umask and argv, rebuilds the standard streams as the client's interpreter built
them, and runs `carpenter.cli.main`, so a served scan behaves as a fresh process would (the
run-wide redaction registry, caches keyed by path, the git state, exit codes), only without
the imports. A watchdog interrupts the fork on the client's Ctrl-C and kills it when the
client dies. docs/server.md has the protocol's guarantees.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

import click

from carpenter import __version__
from carpenter.core.errors import ConfigError
from carpenter.launch import (
    EXIT,
    GO,
    HEADER,
    INTERRUPT,
    MAGIC,
    READY,
    REFUSED,
    START_TIMEOUT_S,
    connect,
    encode_request,
    install_key,
    install_roots,
    install_stamps,
    recv_exact,
    runtime_dir,
    runtime_dir_problem,
    send_request,
    socket_path,
)

DEFAULT_IDLE_S = 15 * 60
SPARES = 1  # forks made in advance: sequential clients (the common case) never wait for one
# A request bigger than this, or with more items, is refused (the client scans in-process):
# Linux caps argv + environment at a quarter of the stack limit (2 MiB by default).
MAX_REQUEST_BYTES = 16 << 20
MAX_REQUEST_ITEMS = 1 << 18
CONTROL_OPS = ("status", "stop")
WARMUP_TIMEOUT_S = 300
# Loaders whose result depends only on Carpenter's code and data and the interpreter, all of
# which the install key covers: loaded once in the server, shared by every fork. Anything not
# listed (caches keyed by path, git config, the environment) starts empty in each fork.
PRIMERS = (
    ("carpenter.core.shapes", "secret_data"),
    ("carpenter.scan.cuda", "cuda_data"),
    ("carpenter.scan.downloads", "_gated_patterns"),
    ("carpenter.scan.secrets", "token_file_patterns"),
    ("carpenter.scan.secret_gate", "_gate"),
    ("carpenter.scan.registry", "all_rules"),
    ("carpenter.model.shell", "_ts_parser"),
    ("carpenter.model.dockerignore", "_sdk_translate"),  # loaded detached: not in sys.modules
    ("carpenter.scan.cache", "_code_stamp"),
)
# Output formats the warm-up renders, so their modules are loaded too.
WARMUP_FORMATS = ("full", "concise", "json", "json-lines", "sarif", "github", "gitlab",
                  "junit", "checkstyle")


@dataclass(frozen=True)
class Place:
    """Where the server of one install keeps its socket, lock and log."""

    folder: str
    key: str
    stamps: str = ""  # install_stamps() when this place was taken

    @property
    def socket(self) -> str:
        return socket_path(self.key, self.folder)

    @property
    def lock(self) -> str:
        return os.path.join(self.folder, f"scan-{self.key}.lock")

    @property
    def log(self) -> str:
        return os.path.join(self.folder, f"scan-{self.key}.log")


def place(create: bool = False) -> Place:
    """This install's server place (the runtime dir made 0700 when `create`); ConfigError when
    the dir is unsafe."""
    if not sys.platform.startswith("linux"):
        raise ConfigError("the scan server needs Linux (SO_PEERCRED, /proc); scans run "
                          "in-process here")
    folder = runtime_dir()
    if create:
        with contextlib.suppress(FileExistsError):
            os.makedirs(folder, mode=0o700)
    problem = runtime_dir_problem(folder)
    if problem and problem != "missing":
        raise ConfigError(f"refusing the scan server's runtime dir: {problem}")
    return Place(folder, install_key(), install_stamps())


# ---------------------------------------------------------------------------------------------
# Control: status and stop, asked of the server over its socket


def ask(where: Place, op: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """The server's answer to a control request; None when no server answers."""
    try:
        sock = connect(where.socket, timeout)
    except OSError:
        return None
    try:
        send_request(sock, encode_request([op.encode(), where.key.encode()]), [])
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    except OSError:
        return None
    finally:
        sock.close()
    if not data.startswith(b"J"):
        return None
    try:
        return json.loads(data[1:])
    except ValueError:
        return None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or the pid is another user's now
        return False
    try:  # a zombie has exited: an init that does not reap (containers) may keep it listed
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def stop_server(where: Place, timeout: float = 10.0) -> int | None:
    """Stop this install's server: its pid, or None when none was running."""
    status = ask(where, "stop")
    if status is None:
        return None
    pid = int(status["pid"])
    if not _gone(pid, timeout):
        # Stuck: kill it. Its socket stays (clients skip a dead socket; the next `start`
        # replaces it under the lock), so a server started meanwhile never loses its own.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pid


# ---------------------------------------------------------------------------------------------
# Start: daemonize, warm up, serve


def start_server(where: Place, idle: float) -> tuple[bool, dict[str, Any]]:
    """(started?, status): start a daemon for this install unless one answers already."""
    running = ask(where, "status")
    if running is not None:
        return False, running
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the intermediate process: a new session, then the daemon, then gone
        code = 1
        try:
            os.close(read_end)
            os.setsid()
            if os.fork() == 0:
                _daemon(where, idle, write_end)  # never returns
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as ready:
        message = ready.read().decode("utf-8", "replace").strip()
    if message == "busy":  # another `start` is warming a server up: wait for it
        deadline = time.monotonic() + WARMUP_TIMEOUT_S
        while time.monotonic() < deadline:
            status = ask(where, "status")
            if status is not None:
                return False, status
            time.sleep(0.1)
    if not message.startswith("ready"):
        raise ConfigError("the scan server did not start: "
                          f"{message or 'no reason given'} (log: {where.log})")
    status = ask(where, "status")
    if status is None:
        raise ConfigError(f"the scan server started but does not answer (log: {where.log})")
    return True, status


def _daemon(where: Place, idle: float, ready_fd: int) -> NoReturn:
    """The daemon's life: detach from the caller's stdio, warm up, serve, clean up."""
    code = 0
    server: _Server | None = None
    try:
        os.chdir("/")
        log_fd = os.open(where.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDWR)
        for target, source in ((0, null), (1, log_fd), (2, log_fd)):
            os.dup2(source, target)
        os.close(null)
        os.close(log_fd)
        _close_other_fds(keep={0, 1, 2, ready_fd})
        server = _Server(where, idle)
        server.prepare()
        os.write(ready_fd, f"ready {os.getpid()}\n".encode())
        os.close(ready_fd)
        ready_fd = -1
        server.serve()
    except _Busy:
        os.write(ready_fd, b"busy")
        server = None  # the other server's socket is not ours to remove
    except SystemExit:  # SIGTERM (`carpenter server stop`)
        pass
    except BaseException as exc:  # the caller waits on the pipe: tell it why
        code = 1
        if ready_fd >= 0:
            with contextlib.suppress(OSError):
                os.write(ready_fd, f"{exc}".encode())
        import traceback

        traceback.print_exc()
    finally:
        if server is not None:
            server.cleanup()
        _log(f"stopped (pid {os.getpid()})")
        os._exit(code)


def _close_other_fds(keep: set[int]) -> None:
    # A daemon must not hold its starter's pipes open: a caller reading them would never end.
    for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        fd = int(name)
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


_LOG_FD = 2  # the daemon's stderr is its log; a worker keeps a copy before taking the client's


def _log(message: str) -> None:
    with contextlib.suppress(OSError):
        os.write(_LOG_FD, f"{time.strftime('%Y-%m-%dT%H:%M:%S')} carpenter server: {message}\n"
                 .encode("utf-8", "replace"))


class _Server:
    def __init__(self, where: Place, idle: float) -> None:
        self.where = where
        self.idle = idle
        self.pid = os.getpid()
        self.started = time.time()
        self.listener: Any = None
        self.lock_fd = -1
        self.bound: tuple[int, int] | None = None  # (st_dev, st_ino) of the socket we bound
        self.workers: set[int] = set()  # forks serving a request
        self.spares: list[tuple[int, Any]] = []  # idle forks, each waiting on its socketpair
        self.requests = 0  # connections served (status requests included)
        self.cap = 2 * len(os.sched_getaffinity(0))
        self.stopping = False  # SIGTERM (`carpenter server stop`) was received
        self.waiting = False  # blocked in accept()/waitpid(), where SIGTERM may interrupt
        self.touched: list[tuple[int, int]] = []  # what a scan writes: see learn_touched_pages
        self.watch: InstallWatch | None = None

    def prepare(self) -> None:
        import fcntl
        import socket

        self.lock_fd = os.open(self.where.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _Busy from None
        # Before anything more is loaded: a change from here on stops the server; one since
        # `start` took its stamps refuses to start.
        self.watch = InstallWatch(install_roots(), install_stamps, self.where.stamps)
        _log(f"warming up (pid {self.pid}, key {self.where.key}, install watched with "
             f"{'inotify' if self.watch.fd >= 0 else 'stamps on each request'})")
        began = time.monotonic()
        warm_up()
        self.touched = learn_touched_pages()
        _log(f"warm in {time.monotonic() - began:.2f} s ({len(self.touched)} page runs, "
             f"{sum(n for _, n in self.touched) >> 10} KiB, copied in advance by each spare)")
        # The flock holder alone binds and unlinks: a socket left by a killed server goes.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.where.socket)
        old = os.umask(0o077)
        try:
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(self.where.socket)
        finally:
            os.umask(old)
        st = os.stat(self.where.socket)
        self.bound = (st.st_dev, st.st_ino)
        self.listener.listen(128)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        _log(f"listening on {self.where.socket} (idle timeout {self.idle:g} s, "
             f"{self.cap} workers)")

    def serve(self) -> None:
        """Accept, check the peer, hand the connection to a spare fork made in advance (a
        fork of a warmed-up interpreter takes milliseconds: not on the request's path), make
        the next spare."""
        last = time.monotonic()
        while not self.stopping and not self._install_changed():
            self._top_up()
            if self._reap():
                last = time.monotonic()
            if not self.workers and time.monotonic() - last >= self.idle:
                _log("idle timeout")
                return
            wait = 1.0 if self.workers else self.idle - (time.monotonic() - last)
            self.listener.settimeout(max(0.01, min(wait, 1.0)))
            try:
                with self._interruptible():
                    conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            last = time.monotonic()
            with conn:
                if not self._same_user(conn):
                    continue
                if self._install_changed():
                    return  # the client sees its connection close and scans in-process
                while len(self.workers) >= self.cap:
                    with self._interruptible():
                        self._reap(block=True)
                self.requests += 1
                self._hand_over(conn)

    def _install_changed(self) -> bool:
        if self.watch is None or not self.watch.changed():
            return False
        _log("Carpenter's files changed: stopping (scans run in-process until the next "
             "`carpenter server start`)")
        return True

    def _on_term(self, signum: int, frame: object) -> None:
        # Raising at any other point could land in an at-fork hook, which swallows it.
        self.stopping = True
        if self.waiting:
            raise SystemExit(0)

    @contextlib.contextmanager
    def _interruptible(self) -> Any:
        self.waiting = True
        try:
            if self.stopping:
                raise SystemExit(0)
            yield
        finally:
            self.waiting = False

    def _same_user(self, conn: Any) -> bool:
        import socket
        import struct

        cred = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _ = struct.unpack("3i", cred)
        if uid != os.getuid():
            _log(f"refused a connection from uid {uid} (pid {pid})")
            return False
        return True

    def _reap(self, block: bool = False) -> bool:
        reaped = False
        while self.workers or self.spares:
            try:
                pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            self.workers.discard(pid)
            self.spares = [(p, link) for p, link in self.spares if p != pid]
            reaped = True
            block = False
        return reaped

    def _top_up(self) -> None:
        while len(self.spares) < SPARES:
            self.spares.append(self._fork_spare())

    def _hand_over(self, conn: Any) -> None:
        import socket

        if not self.spares:
            self._top_up()
        pid, link = self.spares.pop(0)
        status = json.dumps(self.status()).encode()  # "workers": the others running
        try:
            socket.send_fds(link, [status], [conn.fileno()])
        except OSError as exc:  # the spare died: the client sees its connection close
            _log(f"lost a spare fork: {exc}")
        else:
            self.workers.add(pid)
        finally:
            link.close()

    def _fork_spare(self) -> tuple[int, Any]:
        import socket

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _reset_signals()
                ours.close()
                self.listener.close()
                os.close(self.lock_fd)
                if self.watch is not None:
                    self.watch.close()
                for _, link in self.spares:  # the parent's ends: a spare sees EOF when it dies
                    link.close()
                populate(self.touched, until=theirs)
                code = _serve_handed_over(self, theirs)
            except (OSError, ValueError) as exc:  # a client that hung up or spoke nonsense
                _log(f"dropped a request: {type(exc).__name__}: {exc}")
                code = 1
            except BaseException:
                import traceback

                with contextlib.suppress(Exception):
                    _log("worker failed:\n" + traceback.format_exc())
                code = 1
            finally:
                os._exit(code)
        theirs.close()
        return pid, ours

    def status(self) -> dict[str, Any]:
        return {"pid": self.pid, "version": __version__, "socket": self.where.socket,
                "key": self.where.key, "started": self.started,
                "uptime_s": round(time.time() - self.started, 1), "idle_timeout_s": self.idle,
                "workers": len(self.workers), "max_workers": self.cap,
                "requests": self.requests,
                "python": sys.executable}

    def cleanup(self) -> None:
        if os.getpid() != self.pid:
            return  # a fork never tears down the server's socket
        for _, link in self.spares:
            link.close()  # idle forks see EOF and exit
        if self.listener is not None:
            self.listener.close()  # queued clients see the connection close and run in-process
        with contextlib.suppress(OSError):
            st = os.stat(self.where.socket)
            if (st.st_dev, st.st_ino) == self.bound:  # never a newer server's socket
                os.unlink(self.where.socket)
        if self.lock_fd >= 0:
            os.close(self.lock_fd)


# Anything that changes a watched folder's entries or a file's content or stamps.
IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO = 0x2, 0x4, 0x8, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MOVE_SELF = 0x100, 0x200, 0x400, 0x800
WATCH_MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
              | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF)


class InstallWatch:
    """Whether Carpenter's files changed since the server started. Clients no longer stamp
    them (a stat per file on every run); instead the server watches every folder under the
    roots (and each linked file's target) with inotify, set up before it loads the code, and
    stops at the first change; a `__pycache__` folder appearing is not one. Events are queued
    by the very write that causes them, so a change made before a client starts is seen when
    its request arrives. Where inotify is unavailable (no watches left), the stamps are
    compared on each request instead."""

    def __init__(self, roots: list[str], stamps: Callable[[], str], expected: str) -> None:
        self.stamps = stamps
        self.expected = expected
        self.seen = False
        self.fd = _inotify(roots)
        if stamps() != expected:  # changed between `start` and the watch
            self.close()
            raise ConfigError("Carpenter's files changed while the server started; run "
                              "`carpenter server start` again")

    def changed(self) -> bool:
        if not self.seen:
            self.seen = self._events() if self.fd >= 0 else self.stamps() != self.expected
        return self.seen

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1

    def _events(self) -> bool:
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return False
            except OSError:
                return True  # cannot tell: assume the worst
            if any(name != b"__pycache__" for name in _event_names(data)):
                return True


def _event_names(data: bytes) -> list[bytes]:
    """The names in a buffer of `struct inotify_event` (b"" for the watched path itself, and
    for a queue overflow)."""
    import struct

    names, pos = [], 0
    while pos + 16 <= len(data):
        size = struct.unpack_from("=iIII", data, pos)[3]
        names.append(data[pos + 16:pos + 16 + size].rstrip(b"\0"))
        pos += 16 + size
    return names


def _inotify(roots: list[str]) -> int:
    """A non-blocking inotify descriptor watching every folder under `roots` (not
    `__pycache__`) and the target of each linked entry; -1 where that fails."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, AttributeError):
        return -1
    if fd < 0:
        return -1
    try:
        for path in _watched_paths(roots):
            if libc.inotify_add_watch(fd, os.fsencode(path), WATCH_MASK) < 0:
                raise OSError(ctypes.get_errno(), f"cannot watch {path}")
    except OSError as exc:
        _log(f"install not watched with inotify ({exc}): stamps on each request")
        os.close(fd)
        return -1
    return fd


def _watched_paths(roots: list[str]) -> list[str]:
    paths, stack = [], list(roots)
    while stack:
        folder = stack.pop()
        paths.append(folder)
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_symlink():
                    paths.append(os.path.realpath(entry.path))
                elif entry.is_dir() and entry.name != "__pycache__":
                    stack.append(entry.path)
    return paths


class _Busy(Exception):
    """Another server of this install holds the lock (it is starting or running)."""


def _reset_signals() -> None:
    """A fork starts with the signal handling of a fresh interpreter."""
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


# ---------------------------------------------------------------------------------------------
# A worker: one request


def _serve_handed_over(server: _Server, link: Any) -> int:
    """A spare fork: wait for the server to hand over a connection (with the server's status
    at that moment), serve it, end. The server gone or stopping (EOF): end at once."""
    import socket

    watch = _Watch()  # started while nobody waits for this fork
    message, fds, _, _ = socket.recv_fds(link, 1 << 16, 1)
    link.close()
    if not fds:
        return 0
    with socket.socket(fileno=fds[0]) as conn:
        return _Worker(server, conn, json.loads(message), watch).run()


class _Worker:
    def __init__(self, server: _Server, conn: Any, status: dict[str, Any],
                 watch: _Watch) -> None:
        self.server = server
        self.conn = conn
        self.status = status
        self.watch = watch

    def run(self) -> int:
        global _LOG_FD
        _LOG_FD = os.dup(2)
        os.setpgid(0, 0)  # its own group: an interrupt reaches what the scan started, too
        self.conn.settimeout(START_TIMEOUT_S)
        request, fds = self._read()
        try:
            if request is None or request.key != self.server.where.key:
                self.conn.sendall(REFUSED)
                return 0
            if request.op in CONTROL_OPS:
                self.conn.sendall(b"J" + json.dumps(self.status).encode())
                if request.op == "stop":
                    os.kill(self.server.pid, signal.SIGTERM)
                return 0
            if len(fds) != 3 or not _acceptable(request):
                self.conn.sendall(REFUSED)
                return 0
            self.conn.sendall(READY)
            _adopt(request, fds)  # while the client's GO is on its way
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if recv_exact(self.conn, 1) != GO:
            return 0  # the client gave up and runs the scan itself
        self.conn.settimeout(None)
        self.watch.arm(self.conn)
        code = run_cli()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # done: a late interrupt changes nothing
        self.watch.finished.set()
        with contextlib.suppress(OSError):
            self.conn.sendall(EXIT + code.to_bytes(4, "big", signed=True))
        return 0

    def _read(self) -> tuple[Request | None, list[int]]:
        """The request (None: refuse it) and the descriptors that came with it. A client that
        hangs up or stalls (the START_TIMEOUT_S timeout) raises OSError: nobody to answer."""
        import socket

        head, fds, flags, _ = socket.recv_fds(self.conn, HEADER, 3)
        if flags & socket.MSG_CTRUNC:
            return None, fds  # more descriptors than a client sends
        head += recv_exact(self.conn, HEADER - len(head)) if 0 < len(head) < HEADER else b""
        size = request_size(head)
        if size is None:
            return None, fds  # not our protocol (an older client), or too big to read
        return parse_request(head + recv_exact(self.conn, size)), fds


# ---------------------------------------------------------------------------------------------
# The request (docs/server.md, "The request"): parsed strictly, since anything the worker
# cannot reproduce exactly must be refused before READY (the client then scans in-process).


@dataclass(frozen=True)
class StreamSpec:
    """How the client's interpreter set up one standard stream."""

    encoding: str
    errors: str
    line_buffering: bool
    write_through: bool


@dataclass(frozen=True)
class Request:
    """A parsed request: a control op (status, stop) has only op and key."""

    op: str
    key: str
    cwd: bytes = b""
    umask: int = 0
    streams: tuple[StreamSpec, ...] = ()
    argv: tuple[str, ...] = ()
    env: tuple[tuple[bytes, bytes], ...] = field(default=(), repr=False)  # it carries tokens


# op, key, cwd, umask, 3 streams x (encoding, errors, line buffering, write-through), argc
SCAN_FIXED_ITEMS = 4 + 3 * 4 + 1


def request_size(head: bytes) -> int | None:
    """The payload length a request header announces (None: refuse)."""
    if len(head) != HEADER or not head.startswith(MAGIC):
        return None
    size = int.from_bytes(head[len(MAGIC):], "big")
    return size if size <= MAX_REQUEST_BYTES else None


def parse_request(data: bytes) -> Request | None:
    """A whole request (header and payload) as sent by `launch.encode_request`; None for
    anything malformed: wrong magic, a length past the end or short of it, too big, text that
    is not UTF-8, missing or extra items. Never raises on any input (a fuzz test holds it)."""
    size = request_size(data[:HEADER])
    if size is None or len(data) != HEADER + size:
        return None
    items = _split_items(data, HEADER)
    if items is None or len(items) < 2:
        return None
    op, key = _text(items[0]), _text(items[1])
    if op is None or key is None:
        return None
    if op in CONTROL_OPS:
        return Request(op, key) if len(items) == 2 else None
    return _scan_request(key, items) if op == "scan" else None


def _split_items(data: bytes, start: int) -> list[bytes] | None:
    """Each 4-byte length and its bytes, from `start` to exactly the end of `data`."""
    items: list[bytes] = []
    pos, end = start, len(data)
    while pos < end:
        if end - pos < 4 or len(items) >= MAX_REQUEST_ITEMS:
            return None
        size = int.from_bytes(data[pos:pos + 4], "big")
        pos += 4
        if size > end - pos:
            return None
        items.append(data[pos:pos + size])
        pos += size
    return items


def _scan_request(key: str, items: list[bytes]) -> Request | None:
    if len(items) < SCAN_FIXED_ITEMS:
        return None
    cwd, umask = items[2], _octal(items[3])
    found = [_stream_spec(items[i:i + 4]) for i in range(4, 16, 4)]
    streams = tuple(spec for spec in found if spec is not None)
    argc = _count(items[16])
    if not cwd or b"\0" in cwd or umask is None or len(streams) != 3 or not argc:
        return None
    argv, env = items[17:17 + argc], items[17 + argc:]
    if len(argv) != argc or any(b"\0" in arg for arg in argv):
        return None
    pairs = _environment(env)
    if pairs is None:
        return None
    try:  # the client encoded argv as its interpreter decoded it; undo that the same way
        args = tuple(os.fsdecode(arg) for arg in argv)
    except UnicodeDecodeError:
        return None
    return Request("scan", key, cwd, umask, streams, args, pairs)


def _environment(items: list[bytes]) -> tuple[tuple[bytes, bytes], ...] | None:
    """`NAME=value` items as pairs; None for an entry putenv would refuse (no name, NUL) or a
    name given twice (no real environment has that)."""
    pairs = []
    for item in items:
        name, sep, value = item.partition(b"=")
        if not name or not sep or b"\0" in item:
            return None
        pairs.append((name, value))
    if len({name for name, _ in pairs}) != len(pairs):
        return None
    return tuple(pairs)


def _stream_spec(items: list[bytes]) -> StreamSpec | None:
    encoding, errors = _text(items[0]), _text(items[1])
    line_buffering, write_through = _flag(items[2]), _flag(items[3])
    if not encoding or not errors or line_buffering is None or write_through is None:
        return None
    return StreamSpec(encoding, errors, line_buffering, write_through)


def _text(item: bytes) -> str | None:
    """UTF-8 text without NUL (an op, a key, a codec or error-handler name)."""
    try:
        text = item.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if "\0" not in text else None


def _octal(item: bytes) -> int | None:
    if not 1 <= len(item) <= 4 or item.strip(b"01234567"):
        return None
    value = int(item, 8)
    return value if value <= 0o777 else None


def _count(item: bytes) -> int | None:
    if not 1 <= len(item) <= 7 or not item.isdigit():
        return None
    return int(item)


def _flag(item: bytes) -> bool | None:
    return {b"0": False, b"1": True}.get(item)


def _acceptable(request: Request) -> bool:
    """Whether this worker can become the client's process exactly (and then has its cwd);
    when not, the client runs the scan itself."""
    import codecs

    try:
        for spec in request.streams:
            codecs.lookup(spec.encoding)
            codecs.lookup_error(spec.errors)
        os.chdir(request.cwd)
    except (OSError, LookupError, ValueError):
        return False
    return True


def _adopt(request: Request, fds: list[int]) -> None:
    """Become the client's process: its stdio, environment, umask, argv (an _acceptable()
    request, whose cwd is already ours)."""
    import locale

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    streams = [_text_stream(fd, spec, name) for fd, spec, name
               in zip(range(3), request.streams, ("<stdin>", "<stdout>", "<stderr>"),
                      strict=True)]
    _set_environment(request.env)
    os.umask(request.umask)
    time.tzset()
    with contextlib.suppress(locale.Error):
        locale.setlocale(locale.LC_CTYPE, "")  # what the interpreter does at start-up
    if "tempfile" in sys.modules:  # gettempdir() caches $TMPDIR: a fresh process has not yet
        sys.modules["tempfile"].tempdir = None
    sys.stdin, sys.stdout, sys.stderr = streams
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams
    sys.argv = list(request.argv)


def _set_environment(pairs: tuple[tuple[bytes, bytes], ...]) -> None:
    """The client's environment. Only what differs from the server's is unset or set: in a
    fresh fork each putenv/unsetenv also copies pages (a full reset of 40 variables took ~0.8
    ms; a client started from the server's shell differs in a few). os.environ then lists the
    variables in the client's order (what its iteration and copies see); the C environ, which
    only a subprocess started without env= sees, keeps the server's order."""
    env = os.environb
    wanted = dict(pairs)
    for name in [name for name in env if name not in wanted]:
        del env[name]
    for name, value in pairs:
        if env.get(name) != value:
            env[name] = value
    data = getattr(env, "_data", None)  # os.environ's own dict (CPython's os._Environ)
    if isinstance(data, dict) and len(data) == len(pairs):
        data.clear()
        data.update(pairs)


def _text_stream(fd: int, spec: StreamSpec, name: str) -> Any:
    """A standard stream on `fd` as the interpreter builds one (pylifecycle's create_stdio):
    the client's encoding, errors, line buffering and write-through, newline "\\n"."""
    import io

    encoding, errors = spec.encoding, spec.errors
    line_buffering, write_through = spec.line_buffering, spec.write_through
    reading = fd == 0
    buffering = 0 if write_through and not reading else -1
    # The stream lives as long as the worker process: no context manager.
    buffer = open(fd, "rb" if reading else "wb", buffering=buffering, closefd=False)  # noqa: SIM115
    raw = buffer if buffering == 0 else buffer.raw
    raw.name = name
    text = io.TextIOWrapper(buffer, encoding=encoding, errors=errors, newline="\n",
                            line_buffering=line_buffering, write_through=write_through)
    text.mode = "r" if reading else "w"
    return text


class _Watch:
    """Once armed with the client's connection, until `finished` is set: on the client's
    Ctrl-C (INTERRUPT), interrupt this worker and what it started (its process group) as a
    terminal's Ctrl-C would, and kill them if they do not stop in 3 s; when the client is gone
    (killed), kill them at once, as they would have died with it. The thread starts in the
    spare, before a request: a thread start on the request's path cost ~0.4 ms."""

    def __init__(self) -> None:
        import threading

        self.conn: Any = None
        self.armed = threading.Event()
        self.finished = threading.Event()
        threading.Thread(target=self._run, name="carpenter-client-watch", daemon=True).start()

    def arm(self, conn: Any) -> None:
        self.conn = conn
        self.armed.set()

    def _run(self) -> None:
        self.armed.wait()
        try:
            said = self.conn.recv(1)
        except OSError:
            said = b""
        if self.finished.is_set():
            return
        if said == INTERRUPT:
            with contextlib.suppress(OSError):
                os.killpg(0, signal.SIGINT)
            if self.finished.wait(3.0):
                return
        with contextlib.suppress(OSError):
            os.killpg(0, signal.SIGKILL)


def call_main() -> int:
    """`carpenter.cli.main()` on sys.argv: the status the interpreter would exit with."""
    from carpenter.cli import main

    try:
        main()
        return 0
    except SystemExit as exc:
        return _exit_status(exc.code)
    except BaseException:
        import traceback

        traceback.print_exc()
        return 1


def run_cli() -> int:
    """call_main() and the interpreter's own exit steps: the exit status a fresh process
    would end with (once per process: the exit steps stop thread pools)."""
    import atexit
    import threading

    code = call_main()
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()  # non-daemon threads finish first, as at interpreter exit
    atexit._run_exitfuncs()
    return _flush_std_files(code)


def _flush_std_files(code: int) -> int:
    """The interpreter's last step: flush stdout (a failure is reported as an unraisable
    exception) and stderr (silently); either failing makes the exit status 120."""
    import traceback

    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except Exception as exc:
        code = 120
        with contextlib.suppress(Exception):
            sys.stderr.write(f"Exception ignored in: {sys.stdout!r}\n"
                             + "".join(traceback.format_exception_only(exc)))
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
    except Exception:
        code = 120
    return code if -(2 ** 31) <= code < 2 ** 31 else 255


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    with contextlib.suppress(Exception):
        print(code, file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------------------------
# Warm-up


def warm_up() -> None:
    """Load what a scan needs without scanning here: a throw-away child scans the bundled
    sample and reports the modules and regular expressions it loaded; this process loads them,
    then the PRIMERS' data tables."""
    import importlib
    import re

    report = _warm_up_report()
    for name in report.get("modules", ()):
        if name.startswith("__") or name in sys.modules:
            continue
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    for kind, pattern, flags in report.get("patterns", ()):
        with contextlib.suppress(Exception):
            re.compile(pattern.encode("latin-1") if kind == "b" else pattern, flags)
    for module, attr in PRIMERS:
        loader = getattr(importlib.import_module(module), attr, None)
        if loader is None:  # renamed: slower forks, same results (a test names it)
            _log(f"no primer {module}.{attr}")
            continue
        loader()
    compile_lazy_patterns()
    compile_records()
    import gc

    gc.collect()
    gc.freeze()  # forks then leave these objects' pages alone (copy-on-write stays shared)


def compile_lazy_patterns() -> int:
    """Compile every `lazy_compile` pattern loaded so far (module-level ones and those of the
    PRIMERS' data tables): compiled here once, a fork finds them compiled instead of compiling
    its share on each scan. A bad data pattern stays uncompiled, so a scan that uses it fails
    with the same located error as in a fresh process. Returns how many compiled."""
    import gc

    from carpenter.core.lazyre import LazyPattern

    count = 0
    for obj in gc.get_objects():
        if isinstance(obj, LazyPattern):
            with contextlib.suppress(Exception):
                obj.compiled()
                count += 1
    return count


def compile_records() -> int:
    """Compile the `__init__` of every record class loaded (`core.records` interprets a
    class's first calls and compiles only after many): a fork then runs the compiled one from
    its first instance. Returns how many classes."""
    from carpenter.core.records import compile_methods, is_record

    count = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith("carpenter."):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, type) and value.__module__ == name and is_record(value):
                compile_methods(value)
                count += 1
    return count


# ---------------------------------------------------------------------------------------------
# Copy-on-write in advance
#
# A fork shares the server's memory until it writes to it; each page a scan first writes to
# (reference counts, dicts, the allocator's free lists) then costs a page fault and a copy:
# ~1,700 per scan, ~2 ms. The server learns which pages a scan writes (a throw-away fork scans
# the sample and reads /proc/self/pagemap), and each spare copies them at once (madvise
# MADV_POPULATE_WRITE, Linux 5.14+) while it waits for a request, off the request's path.

MADV_POPULATE_WRITE = 23
RUN_GAP_PAGES = 1
POPULATE_CHECK_EVERY = 32  # runs between two looks for a request (~0.5 ms of copying)
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_madvise: Any = None


def learn_touched_pages() -> list[tuple[int, int]]:
    """Runs of (start, bytes) of the server's private memory that a scan of the sample wrote
    to; [] where that cannot be learned or used (no pagemap, no MADV_POPULATE_WRITE)."""
    global _madvise
    try:
        import ctypes

        _madvise = ctypes.CDLL(None, use_errno=True).madvise
        _madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        _madvise.restype = ctypes.c_int
        runs = _in_child(_touched_pages_child, "could not learn a scan's pages")
    except (OSError, AttributeError, ConfigError) as exc:
        _log(f"no pages copied in advance: {exc}")
        runs = []
    if not runs:
        _madvise = None
    return [(int(start), int(size)) for start, size in runs]


def populate(runs: list[tuple[int, int]], until: Any = None) -> None:
    """Copy these runs now (a spare, before its request); quietly nothing where the kernel
    lacks MADV_POPULATE_WRITE or a run is gone (unmapped since). Stops early once `until` (the
    spare's link) is readable: a request that came early is not kept waiting for the copies
    (its scan then takes the remaining page faults itself)."""
    if _madvise is None:
        return
    import select

    for index, (start, size) in enumerate(runs):
        if until is not None and index % POPULATE_CHECK_EVERY == 0 \
                and select.select([until], [], [], 0)[0]:
            return
        _madvise(start, size, MADV_POPULATE_WRITE)


def _touched_pages_child() -> list[list[int]]:
    before = _private_ranges()
    with _sample_submission() as sub:
        sys.argv = ["carpenter", "scan", "--no-cache", "--output-format", "json", sub]
        call_main()
    runs = _exclusive_runs(before)
    if runs and _madvise(runs[0][0], runs[0][1], MADV_POPULATE_WRITE) != 0:
        return []  # a kernel before 5.14: spares would only make failing calls
    return runs


def _private_ranges() -> list[tuple[int, int]]:
    """(start, end) of this process's private writable anonymous mappings (the heap, the
    allocators' arenas): what a fork shares copy-on-write."""
    ranges = []
    with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
        for line in maps:
            fields = line.split()
            if fields[1] == "rw-p" and (len(fields) < 6 or fields[5] == "[heap]"):
                start, end = fields[0].split("-")
                ranges.append((int(start, 16), int(end, 16)))
    return ranges


def _exclusive_runs(ranges: list[tuple[int, int]]) -> list[list[int]]:
    """The pages of `ranges` now present and mapped by this process alone (pagemap bits 63
    and 56: copied after the fork, or first touched after it), as [start, bytes] runs; runs
    a few pages apart are joined (one madvise call each: fewer calls, a few more pages)."""
    runs: list[list[int]] = []
    gap = RUN_GAP_PAGES * _PAGE
    with open("/proc/self/pagemap", "rb") as pagemap:
        for start, end in ranges:
            pagemap.seek(start // _PAGE * 8)
            entries = memoryview(pagemap.read((end - start) // _PAGE * 8)).cast("Q")
            for index, entry in enumerate(entries):
                if entry >> 63 and (entry >> 56) & 1:
                    address = start + index * _PAGE
                    if runs and address - (runs[-1][0] + runs[-1][1]) <= gap:
                        runs[-1][1] = address + _PAGE - runs[-1][0]
                    else:
                        runs.append([address, _PAGE])
    return runs


def _warm_up_report() -> dict[str, Any]:
    return _in_child(_warm_up_child, "the warm-up scan failed (see the server log)")


def _in_child(work: Callable[[], Any], failure: str) -> Any:
    """work()'s JSON-able result, computed in a throw-away fork (what it loads or changes
    stays there); ConfigError(failure) when it fails."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_end)
            data = json.dumps(work()).encode()
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not data:
        raise ConfigError(failure)
    return json.loads(data)


@contextlib.contextmanager
def _sample_submission() -> Iterator[str]:
    """The bundled sample (data/server/warmup.toml) written to a temporary folder (a git
    repository when git is there), with a private result cache; standard streams to
    /dev/null. Only for a throw-away fork."""
    import random
    import shutil
    import string
    import subprocess
    import tempfile
    import tomllib

    from carpenter.core.resources import data_dir

    with open(data_dir() / "server" / "warmup.toml", "rb") as handle:
        files = tomllib.load(handle)["files"]
    rng = random.Random()
    token = "hf_" + "".join(rng.choice(string.ascii_letters) for _ in range(34))
    hex40 = "".join(rng.choice("0123456789abcdef") for _ in range(40))
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    with tempfile.TemporaryDirectory(prefix="carpenter-warmup-") as tmp:
        sub = os.path.join(tmp, "submission")
        for name, text in files.items():
            path = os.path.join(sub, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as out:
                out.write(text.replace("{token}", token).replace("{hex40}", hex40))
        if shutil.which("git"):  # the git-state and history checks load their modules too
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                for args in (["init", "-q"], ["add", "-A"],
                             ["-c", "user.name=w", "-c", "user.email=w@w", "commit", "-qm", "w"]):
                    subprocess.run(["git", *args], cwd=sub, check=True, capture_output=True,
                                   timeout=30)
        os.environ["CARPENTER_CACHE_DIR"] = os.path.join(tmp, "cache")
        os.environ.pop("CARPENTER_NO_CACHE", None)
        yield sub


def _warm_up_child() -> dict[str, Any]:
    import re

    with _sample_submission() as sub:
        runs = [["scan", "--no-cache", "--output-format", f, sub] for f in WARMUP_FORMATS]
        runs.append(["scan", sub])  # the result cache: stored,
        runs.append(["scan", sub])  # then reused
        for args in runs:
            sys.argv = ["carpenter", *args]
            call_main()
    patterns = []
    for cache_name in ("_cache", "_cache2"):
        for key in list(getattr(re, cache_name, {})):
            if len(key) == 3 and isinstance(key[1], str | bytes) and isinstance(key[2], int):
                if isinstance(key[1], bytes):
                    patterns.append(["b", key[1].decode("latin-1"), key[2]])
                else:
                    patterns.append(["s", key[1], key[2]])
    return {"modules": sorted(sys.modules), "patterns": patterns}


# ---------------------------------------------------------------------------------------------
# CLI


@click.group("server")
def server() -> None:
    """A warmed-up process that runs `carpenter scan` for each new `carpenter` process.

    Every `carpenter scan` of this install then costs a small client instead of a cold start
    (pre-commit hooks, scripts that scan one submission per process). Output and exit codes
    are the same as without it; with no server running, scans run as before.
    """


@server.command("start")
@click.option("--idle", type=click.FloatRange(min=1), default=DEFAULT_IDLE_S, show_default=True,
              help="Exit after this many seconds without a request.")
def start_command(idle: float) -> None:
    """Start this install's scan server (nothing happens when one is running)."""
    started, status = start_server(place(create=True), idle)
    what = "started" if started else "already running"
    click.echo(f"carpenter: scan server {what} (pid {status['pid']}, socket "
               f"{status['socket']}, idle timeout {status['idle_timeout_s']:g} s)")


@server.command("stop")
def stop_command() -> None:
    """Stop this install's scan server."""
    pid = stop_server(place())
    click.echo("carpenter: no scan server running" if pid is None
               else f"carpenter: scan server stopped (pid {pid})")


@server.command("status")
def status_command() -> None:
    """Show this install's scan server (exit 1 when none runs)."""
    where = place()
    status = ask(where, "status")
    if status is None:
        click.echo(f"carpenter: no scan server running (socket {where.socket})")
        sys.exit(1)
    labels = {"pid": "pid", "version": "version", "socket": "socket", "uptime_s": "uptime (s)",
              "idle_timeout_s": "idle timeout (s)", "workers": "workers running",
              "max_workers": "max workers", "requests": "requests served", "python": "python"}
    for key, label in labels.items():
        click.echo(f"{label}: {status[key]}")
