"""`carpenter server`: a served `carpenter scan` is the same scan as an in-process one.

Real processes only: a pip-style console script for `carpenter.launch:main`, a real daemon on
a unix socket in a private runtime dir, clients started as a user's shell would. Every server
a test starts is stopped (and killed if it does not stop) in the fixture's teardown.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "submissions"
SAMPLES = ["sec-context-files", "cuda-flash-attn", "dl-hub-downloads", "sec-env-arg-tokens"]
SCRIPT = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from carpenter.launch import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


class Install:
    """A `carpenter` console script (as pip writes it) and a private runtime dir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        self.script = self.bin / "carpenter"
        self.script.write_text(SCRIPT.format(python=sys.executable))
        self.script.chmod(0o755)
        self.runtime = root / "run"  # created by `server start`
        self.started: list[int] = []
        self.pythonpath = ROOT  # where `carpenter` is imported from

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "CARPENTER_NO_SERVER"}
        env.update(PYTHONPATH=str(self.pythonpath), CARPENTER_RUNTIME_DIR=str(self.runtime),
                   **extra)
        return env

    def run(self, *args: str, cwd: Path | None = None, stdin: bytes = b"",
            **env: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([str(self.script), *args], cwd=cwd or self.root, input=stdin,
                              capture_output=True, env=self.env(**env), timeout=300)

    def local(self, *args: str, **kw) -> subprocess.CompletedProcess[bytes]:
        return self.run(*args, CARPENTER_NO_SERVER="1", **kw)

    def start(self, *args: str) -> int:
        done = self.run("server", "start", *args)
        assert done.returncode == 0, done.stderr.decode()
        pid = self.pid()
        self.started.append(pid)
        return pid

    def status(self) -> dict[str, str]:
        """`carpenter server status`, parsed ({} when no server answers)."""
        done = self.run("server", "status")
        if done.returncode != 0:
            return {}
        return dict(line.split(": ", 1) for line in done.stdout.decode().splitlines())

    def pid(self) -> int:
        return int(self.status()["pid"])

    def requests(self) -> int:
        status = self.status()
        assert status, "no server answers"
        return int(status["requests served"])

    def socket(self) -> Path:
        found = list(self.runtime.glob("scan-*.sock"))
        assert len(found) == 1, found
        return found[0]

    def teardown(self) -> None:
        self.run("server", "stop")
        for pid in self.started:
            _kill(pid)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:  # a zombie is not alive
        return handle.read().rsplit(")", 1)[1].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found


def _workers_in(server: int, cwd: Path) -> list[int]:
    """The server's workers serving a client in `cwd` (a status request's worker stays in /)."""
    found = []
    for pid in _children(server):
        try:
            if os.readlink(f"/proc/{pid}/cwd") == str(cwd):
                found.append(pid)
        except OSError:
            continue
    return found


def _wait(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _install() -> Iterator[Install]:
    # A short path: a unix socket's path must fit in 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="carp-", dir="/tmp"))
    install = Install(root)
    try:
        yield install
    finally:
        install.teardown()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def served() -> Iterator[Install]:
    """One warmed-up server for the module's comparisons."""
    for install in _install():
        install.start()
        yield install


@pytest.fixture
def fresh() -> Iterator[Install]:
    """An install with no server yet (tests that start, stop or kill one)."""
    yield from _install()


def _big_submission(root: Path, files: int = 2500) -> Path:
    """A context large enough that its scan takes a few seconds."""
    sub = root / "big"
    (sub / "src").mkdir(parents=True)
    (sub / "Dockerfile").write_text("FROM python:3.10\nCOPY . /app\nRUN pip install torch\n")
    body = "".join(f"def f{i}(token_dim, pad_token):\n    return token_dim + {i}\n"
                   for i in range(40))
    for i in range(files):
        (sub / "src" / f"m{i}.py").write_text(body)
    return sub


def _token() -> str:
    rng = random.Random()
    return "hf_" + "".join(rng.choice(string.ascii_letters) for _ in range(34))


# ---------------------------------------------------------------------------------------------
# Same bytes


@pytest.mark.parametrize("fmt", ["full", "json", "sarif"])
def test_served_scans_print_the_same_bytes_and_exit_codes(served: Install, fmt: str) -> None:
    for name in SAMPLES:
        args = ("scan", "--output-format", fmt, str(FIXTURES / name))
        before = served.requests()
        remote = served.run(*args)
        assert served.requests() == before + 2, "the scan did not go through the server"
        local = served.local(*args)
        assert remote.stdout, name
        assert (remote.returncode, remote.stdout, remote.stderr) == \
            (local.returncode, local.stdout, local.stderr), name


def test_served_errors_stdin_and_output_files_match(served: Install, tmp_path: Path) -> None:
    dockerfile = (FIXTURES / "cuda-flash-attn" / "Dockerfile").read_bytes()
    cases = [
        (("scan", str(tmp_path / "missing")), b""),  # exit 2 and a located error
        (("scan", "--no-such-option"), b""),  # a usage error
        (("scan", "-", "--stdin-filename", "Dockerfile", "--output-format", "json"), dockerfile),
        (("scan", "--output-format", "sarif", "-o", "out.sarif", str(FIXTURES / "pip-wrappers")),
         b""),
    ]
    for args, stdin in cases:
        # Each run with its own empty result cache: the second would otherwise reuse what
        # the first stored, and say so ("1 from the result cache").
        remote = served.run(*args, cwd=tmp_path, stdin=stdin,
                            CARPENTER_CACHE_DIR=str(tmp_path / "cache-served"))
        remote_file = (tmp_path / "out.sarif").read_bytes() if "-o" in args else b""
        local = served.local(*args, cwd=tmp_path, stdin=stdin,
                             CARPENTER_CACHE_DIR=str(tmp_path / "cache-local"))
        local_file = (tmp_path / "out.sarif").read_bytes() if "-o" in args else b""
        assert (remote.returncode, remote.stdout, remote.stderr, remote_file) == \
            (local.returncode, local.stdout, local.stderr, local_file), args
    assert remote_file.startswith(b"{")


def test_the_clients_stream_encoding_is_kept(served: Install) -> None:
    # The text report draws with box characters; an ASCII terminal gets them escaped, as the
    # client's own interpreter would write them.
    args = ("scan", "--output-format", "full", str(FIXTURES / "sec-context-files"))
    env = {"PYTHONIOENCODING": "ascii:backslashreplace"}
    before = served.requests()
    remote = served.run(*args, **env)
    assert served.requests() == before + 2
    local = served.local(*args, **env)
    assert b"\\u2502" in local.stdout
    assert (remote.returncode, remote.stdout, remote.stderr) == \
        (local.returncode, local.stdout, local.stderr)


@pytest.mark.parametrize("unbuffered", ["1", ""])
def test_a_closed_stdout_ends_as_in_a_local_run(served: Install, unbuffered: str) -> None:
    # A reader that went away (`carpenter scan | head` after head exits): the interpreter's
    # final flush fails, which Python reports ("Exception ignored in: <...stdout...>") and
    # turns into exit status 120 when stdout is buffered.
    def run(**env: str) -> tuple[int, bytes]:
        read_end, write_end = os.pipe()
        os.close(read_end)
        env = {**served.env(**env), "PYTHONUNBUFFERED": unbuffered}
        if not unbuffered:
            del env["PYTHONUNBUFFERED"]
        done = subprocess.run([str(served.script), "scan", str(FIXTURES / "cuda-flash-attn")],
                              stdout=write_end, stderr=subprocess.PIPE, env=env, timeout=300)
        os.close(write_end)
        return done.returncode, done.stderr

    before = served.requests()
    remote = run()
    assert served.requests() == before + 2
    local = run(CARPENTER_NO_SERVER="1")
    assert remote == local
    if not unbuffered:
        assert local[0] == 120 and b"BrokenPipeError" in local[1]


def _on_terminal(install: Install, args: tuple[str, ...], **env: str) -> tuple[int, bytes]:
    """Run with stdout and stderr on a pseudo-terminal: (exit code, what the terminal got)."""
    import pty
    import threading

    master, slave = pty.openpty()
    proc = subprocess.Popen([str(install.script), *args], stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, env=install.env(TERM="xterm", **env))
    os.close(slave)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    code = proc.wait(timeout=300)
    reader.join(timeout=30)
    os.close(master)
    return code, b"".join(chunks)


@pytest.mark.parametrize("no_color", ["", "1"])
def test_a_terminal_gets_the_same_colours(served: Install, no_color: str) -> None:
    # Colour follows the client's terminal and its environment (NO_COLOR), not the server's.
    args = ("scan", str(FIXTURES / "cuda-flash-attn"))
    env = {"NO_COLOR": no_color} if no_color else {}
    before = served.requests()
    remote = _on_terminal(served, args, **env)
    assert served.requests() == before + 2
    local = _on_terminal(served, args, CARPENTER_NO_SERVER="1", **env)
    assert (b"\x1b[" in local[1]) == (not no_color)
    assert remote == local


def test_a_planted_token_never_appears_in_full(served: Install, tmp_path: Path) -> None:
    token, other = _token(), _token()
    sub = tmp_path / "leaky"
    sub.mkdir()
    (sub / "Dockerfile").write_text(f"FROM python:3.10\nENV HF_TOKEN={token}\nCOPY . /app\n")
    (sub / "login.py").write_text(f"from huggingface_hub import login\nlogin(token='{other}')\n")
    for fmt in ("full", "json", "sarif", "github"):
        before = served.requests()
        remote = served.run("scan", "--output-format", fmt, str(sub))
        assert served.requests() == before + 2
        local = served.local("scan", "--output-format", fmt, str(sub))
        assert (remote.returncode, remote.stdout, remote.stderr) == \
            (local.returncode, local.stdout, local.stderr)
        for value in (token, other):
            assert value.encode() not in remote.stdout + remote.stderr, fmt
            assert value[:7].encode() in remote.stdout, fmt  # masked, prefix kept


def test_concurrent_clients_beyond_the_worker_cap(served: Install) -> None:
    cap = int(served.status()["max workers"])
    args = ["scan", "--output-format", "json", str(FIXTURES / "sec-context-files")]
    expected = served.local(*args)
    procs = [subprocess.Popen([str(served.script), *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=served.env())
             for _ in range(cap + 3)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert (proc.returncode, out, err) == \
            (expected.returncode, expected.stdout, expected.stderr)


def _signalled_while_reading_stdin(install: Install, signum: int = signal.SIGINT,
                                   **env: str) -> tuple[int, list[str]]:
    """`scan -` sent `signum` (SIGINT: Ctrl-C) while the command waits for the rest of its
    stdin: (exit code, last line of stderr)."""
    import fcntl
    import termios

    proc = subprocess.Popen([str(install.script), "scan", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=install.env(**env))
    proc.stdin.write(b"FROM python:3.10\n")
    proc.stdin.flush()

    def unread() -> int:
        return int.from_bytes(fcntl.ioctl(proc.stdin.fileno(), termios.FIONREAD, b"\0" * 4),
                              sys.byteorder)

    # Once the line is read, the command itself is running (past every import).
    assert _wait(lambda: unread() == 0, 120), "the scan never read its stdin"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err.decode().strip().splitlines()[-1:]


def test_interrupting_a_served_scan_ends_it_like_a_local_one(served: Install) -> None:
    before = served.requests()
    remote = _signalled_while_reading_stdin(served)
    assert served.requests() == before + 2
    local = _signalled_while_reading_stdin(served, CARPENTER_NO_SERVER="1")
    assert remote == local == (130, ["carpenter: aborted"])
    server = served.pid()
    assert _wait(lambda: not _workers_in(server, served.root), 10), \
        "the interrupted worker is still running"


def test_a_killed_client_takes_its_worker_along(served: Install) -> None:
    # Killed, a local run prints nothing more; a served one must not go on in the background.
    before = served.requests()
    remote = _signalled_while_reading_stdin(served, signal.SIGKILL)
    assert served.requests() == before + 2
    local = _signalled_while_reading_stdin(served, signal.SIGKILL, CARPENTER_NO_SERVER="1")
    assert remote == local == (-signal.SIGKILL, [])  # stderr closed: the worker is gone too
    server = served.pid()
    assert _wait(lambda: not _workers_in(server, served.root), 10), "the worker outlived its client"


# ---------------------------------------------------------------------------------------------
# The launcher


# The console script, with os._exit (how a served client ends) recording sys.modules first.
SPY = """#!{python}
import os
import sys
from carpenter.launch import main


def spy_exit(code, real=os._exit):
    with open(os.environ["CARPENTER_TEST_MODULES"], "w", encoding="utf-8") as out:
        for name, module in sorted(sys.modules.items()):
            out.write(f"{{name}}\\t{{getattr(module, '__file__', None) or ''}}\\n")
    real(code)


os._exit = spy_exit
if __name__ == '__main__':
    sys.exit(main())
"""


def test_a_served_client_loads_only_what_a_bare_interpreter_has(served: Install,
                                                                 tmp_path: Path) -> None:
    # Each module a client imports costs every `carpenter` run (json pulls in re and enum:
    # ~7 ms of a ~25 ms served scan). Allowed: what `python -c pass` has loaded, C modules
    # (built in or .so: no Python code to run) and the launcher itself.
    bare = subprocess.run([sys.executable, "-c", "import sys; print(sorted(sys.modules))"],
                          capture_output=True, text=True, env=served.env(), check=True)
    allowed = set(eval(bare.stdout)) | {"carpenter", "carpenter.launch"}
    spy = served.bin / "carpenter-spy"  # beside the console script: the same install key
    spy.write_text(SPY.format(python=sys.executable))
    spy.chmod(0o755)
    record = tmp_path / "modules.tsv"
    before = served.requests()
    done = subprocess.run([str(spy), "scan", str(FIXTURES / "cuda-flash-attn")],
                          capture_output=True, env=served.env(CARPENTER_TEST_MODULES=str(record)),
                          timeout=300)
    assert served.requests() == before + 2, done.stderr.decode()
    assert record.exists(), "the client did not end through the served path"
    loaded = dict(line.split("\t") for line in record.read_text().splitlines())
    extra = {name: path for name, path in loaded.items()
             if name not in allowed and path and not path.endswith(".so")}
    assert extra == {}


def test_python_dash_m_still_runs(served: Install) -> None:
    for module in ("carpenter", "carpenter.cli"):
        done = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True,
                              text=True, env=served.env())
        assert done.returncode == 0 and "carpenter" in done.stdout, (module, done.stderr)
    args = ("scan", "--output-format", "json", str(FIXTURES / "cuda-flash-attn"))
    remote = subprocess.run([sys.executable, "-m", "carpenter", *args], capture_output=True,
                            env=served.env())
    local = served.local(*args)
    assert (remote.returncode, remote.stdout, remote.stderr) == \
        (local.returncode, local.stdout, local.stderr)


def test_every_primer_is_a_loader_without_arguments() -> None:
    import importlib
    import inspect

    from carpenter.daemon import PRIMERS

    for module, attr in PRIMERS:
        loader = getattr(importlib.import_module(module), attr, None)
        assert loader is not None, f"{module}.{attr} is gone: update carpenter.daemon.PRIMERS"
        assert not inspect.signature(loader).parameters, f"{module}.{attr}"


# ---------------------------------------------------------------------------------------------
# Never the wrong server, never a lost scan


@pytest.mark.parametrize("change", ["touch", "edit", "new file"])
def test_a_changed_install_stops_the_server(fresh: Install, change: str) -> None:
    # The server watches Carpenter's files: any change after it started (here to a copy of
    # the package, which no other test's server loads) stops it, and the client that finds
    # it changed, like every later one, scans in-process with the files as they are now.
    copy = fresh.root / "src"
    shutil.copytree(ROOT / "carpenter", copy / "carpenter", symlinks=True)
    fresh.pythonpath = copy
    pid = fresh.start()
    args = ("scan", "--output-format", "json", str(FIXTURES / "cuda-flash-attn"))
    expected = fresh.local(*args)
    module = copy / "carpenter" / "core" / "__init__.py"
    if change == "touch":
        st = module.stat()
        os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    elif change == "edit":
        module.write_text(module.read_text() + "\n")
    else:
        (copy / "carpenter" / "scan" / "extra.txt").write_text("x")
    changed = fresh.run(*args)
    assert (changed.returncode, changed.stdout, changed.stderr) == \
        (expected.returncode, expected.stdout, expected.stderr)
    assert _wait(lambda: not _alive(pid), 10), "the server outlived the change"
    assert not list(fresh.runtime.glob("scan-*.sock"))
    log = next(fresh.runtime.glob("scan-*.log")).read_text()
    assert "Carpenter's files changed: stopping" in log


def test_new_bytecode_does_not_stop_the_server(fresh: Install) -> None:
    # Python writing a __pycache__ folder into the package is not a change of Carpenter.
    copy = fresh.root / "src"
    shutil.copytree(ROOT / "carpenter", copy / "carpenter", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    fresh.pythonpath = copy
    fresh.start()
    (copy / "carpenter" / "scan" / "__pycache__").mkdir(exist_ok=True)
    before = fresh.requests()
    fresh.run("scan", str(FIXTURES / "cuda-flash-attn"))
    assert fresh.requests() == before + 2  # served


def _watch(root: Path) -> object:
    from carpenter import daemon, launch

    def stamps() -> str:
        parts: list[str] = []
        launch._tree_stamps(str(root), parts)
        return launch._checksum("\n".join(parts).encode())

    return daemon.InstallWatch([str(root)], stamps, stamps())


@pytest.mark.parametrize("inotify", [True, False])
def test_the_install_watch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           inotify: bool) -> None:
    from carpenter import daemon
    from carpenter.core.errors import ConfigError

    if not inotify:  # no watches left: the stamps are compared on each request instead
        monkeypatch.setattr(daemon, "_inotify", lambda roots: -1)
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.py").write_text("x = 1\n")
    watch = _watch(root)
    assert (watch.fd >= 0) == inotify
    (root / "sub" / "__pycache__").mkdir()
    (root / "sub" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"pyc")
    assert not watch.changed()
    (root / "sub" / "a.py").write_text("x = 2\n")
    assert watch.changed() and watch.changed()  # and it stays changed
    watch.close()
    with pytest.raises(ConfigError, match="changed while the server started"):
        daemon.InstallWatch([str(root)], lambda: "now", "when start ran")


def test_the_server_refuses_a_request_for_another_key(served: Install) -> None:
    code = ("import carpenter.launch as l; "
            f"s = l.connect({str(served.socket())!r}, 5); "
            "l.send_request(s, l.encode_request(l.scan_items('0' * 16)), [0, 1, 2]); "
            "print(s.recv(1))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=served.env(), check=True)
    assert done.stdout.strip() == "b'N'"


def test_garbage_requests_are_refused_and_the_server_carries_on(served: Install) -> None:
    # Whatever arrives (noise, the old JSON protocol, a request cut short, a scan request
    # without its descriptors): the worker answers "N" or hangs up, promptly, without a
    # traceback in the log, and the server goes on serving.
    import socket

    from carpenter.launch import encode_request

    key = served.socket().name[len("scan-"):-len(".sock")].encode()
    streams = [b"utf-8", b"strict", b"0", b"0"] * 3
    scan = encode_request([b"scan", key, b"/", b"22", *streams, b"1", b"carpenter"])
    status = encode_request([b"status", key])
    rng = random.Random(14)
    garbage = [b"", b"CARPSRV1" + (17).to_bytes(8, "big") + b'{"op": "status"}', scan,
               status[:-1], status[:10],
               status[:8] + (len(status) - 15).to_bytes(8, "big") + status[16:]]
    garbage += [rng.randbytes(rng.randint(1, 64)) for _ in range(10)]
    garbage += [status[:16] + rng.randbytes(len(status) - 16) for _ in range(10)]
    before = served.requests()
    for blob in garbage:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(15)
            sock.connect(str(served.socket()))
            sock.sendall(blob)
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(1) in (b"N", b"")
    assert served.requests() == before + len(garbage) + 1
    log = next(served.runtime.glob("scan-*.log")).read_text()
    assert "Traceback" not in log and "worker failed" not in log


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to connect as another user")
def test_the_server_refuses_another_user(served: Install) -> None:
    # Make the socket reachable for uid 65534 (its private dir normally prevents that): the
    # server still hangs up on a peer whose SO_PEERCRED uid is not its own.
    sock = served.socket()
    for folder in (served.root, served.runtime):
        folder.chmod(0o711)
    sock.chmod(0o777)
    try:
        answer = _as_user(65534, str(sock))
    finally:
        for folder in (served.root, served.runtime):
            folder.chmod(0o700)
        sock.chmod(0o755)
    assert answer == "closed"
    log = next(served.runtime.glob("scan-*.log")).read_text()
    assert "refused a connection from uid 65534" in log


def _as_user(uid: int, path: str) -> str:
    """Connect to `path` as `uid` (a forked child of this test) and send a status request."""
    import socket

    from carpenter.launch import encode_request

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        answer = b"error"
        try:
            os.setgid(uid)
            os.setuid(uid)
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(10)
            sock.connect(path)
            try:
                sock.sendall(encode_request([b"status", b"0" * 16]))
                answer = b"closed" if sock.recv(1) == b"" else b"answered"
            except (BrokenPipeError, ConnectionResetError):
                answer = b"closed"  # hung up before reading the request
        except OSError as exc:
            answer = repr(exc).encode()
        finally:
            os.write(write_end, answer)
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        return pipe.read().decode()


def test_an_unsafe_runtime_dir_is_refused_with_a_fallback(fresh: Install) -> None:
    fresh.start()
    args = ("scan", "--output-format", "json", str(FIXTURES / "cuda-flash-attn"))
    expected = fresh.local(*args)
    fresh.runtime.chmod(0o777)
    try:
        client = fresh.run(*args)
        start = fresh.run("server", "start")
    finally:
        fresh.runtime.chmod(0o700)
    assert (client.returncode, client.stdout) == (expected.returncode, expected.stdout)
    warning = client.stderr.decode()
    assert warning.startswith("carpenter: not using the scan server: ")
    assert "writable by group or others (mode 777)" in warning
    assert client.stderr[len(warning.splitlines(True)[0]):] == expected.stderr
    assert start.returncode == 2
    assert "refusing the scan server's runtime dir" in start.stderr.decode()


def test_start_creates_a_private_dir_and_stop_removes_socket_and_process(
        fresh: Install) -> None:
    pid = fresh.start()
    assert fresh.runtime.stat().st_mode & 0o777 == 0o700
    sock = fresh.socket()
    status = fresh.run("server", "status")
    assert status.returncode == 0
    text = status.stdout.decode()
    for line in (f"pid: {pid}", "version: ", f"socket: {sock}", "uptime (s): "):
        assert line in text
    again = fresh.run("server", "start")
    assert again.returncode == 0 and b"already running" in again.stdout
    stop = fresh.run("server", "stop")
    assert stop.returncode == 0 and f"stopped (pid {pid})".encode() in stop.stdout
    assert not _alive(pid)
    assert not sock.exists(), next(fresh.runtime.glob("*.log")).read_text()
    none = fresh.run("server", "status")
    assert none.returncode == 1 and b"no scan server running" in none.stdout


def test_a_killed_server_leaves_a_stale_socket_that_clients_skip(fresh: Install) -> None:
    pid = fresh.start()
    os.kill(pid, signal.SIGKILL)
    assert _wait(lambda: not _alive(pid), 10)
    assert fresh.socket().exists()  # nobody removed it
    args = ("scan", "--output-format", "sarif", str(FIXTURES / "sec-context-files"))
    remote, local = fresh.run(*args), fresh.local(*args)
    assert (remote.returncode, remote.stdout, remote.stderr) == \
        (local.returncode, local.stdout, local.stderr)
    assert fresh.run("server", "status").returncode == 1
    new = fresh.start()  # takes the stale socket's place
    assert new != pid and fresh.pid() == new


def test_a_server_killed_during_a_scan_still_delivers_it(fresh: Install,
                                                         tmp_path: Path) -> None:
    big = _big_submission(tmp_path)
    args = ("scan", "--no-cache", "--output-format", "json", str(big))
    pid = fresh.start()
    client = subprocess.Popen([str(fresh.script), *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=fresh.env(), cwd=tmp_path)
    assert _wait(lambda: _workers_in(pid, tmp_path), 30), "no worker started"
    os.kill(pid, signal.SIGKILL)  # the server; its worker carries on
    out, err = client.communicate(timeout=300)
    local = fresh.local(*args)
    assert (client.returncode, out, err) == (local.returncode, local.stdout, local.stderr)
    after = fresh.run("scan", "--output-format", "json", str(FIXTURES / "cuda-flash-attn"))
    expected = fresh.local("scan", "--output-format", "json", str(FIXTURES / "cuda-flash-attn"))
    assert (after.returncode, after.stdout) == (expected.returncode, expected.stdout)


def test_a_worker_killed_during_a_scan_is_an_error_not_a_silent_success(
        fresh: Install, tmp_path: Path) -> None:
    big = _big_submission(tmp_path)
    pid = fresh.start()
    client = subprocess.Popen([str(fresh.script), "scan", "--no-cache", str(big)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=fresh.env(),
                              cwd=tmp_path)
    assert _wait(lambda: _workers_in(pid, tmp_path), 30), "no worker started"
    for worker in _workers_in(pid, tmp_path):
        os.kill(worker, signal.SIGKILL)
    _, err = client.communicate(timeout=60)
    assert client.returncode == 2
    assert b"the scan server's worker stopped before the scan finished" in err


def test_an_idle_server_exits_and_removes_its_socket(fresh: Install) -> None:
    pid = fresh.start("--idle", "1")
    sock = fresh.socket()
    assert _wait(lambda: not _alive(pid) and not sock.exists(), 30)


NO_WORK = """
import os, sys
from carpenter import daemon
from carpenter.core.lazyre import LazyPattern
import gc
daemon.warm_up()
lazy = [o for o in gc.get_objects() if isinstance(o, LazyPattern) and "_compiled" not in vars(o)]
print("uncompiled", len(lazy), flush=True)
from carpenter.core.records import is_record
records = [v for n, m in list(sys.modules.items()) if n.startswith("carpenter.")
           for v in vars(m).values() if isinstance(v, type) and is_record(v)]
stubs = [c for c in records if getattr(c.__init__, "_record_stub", False)]
print("records", len(records) > 40, "stubs", len(stubs), flush=True)
for fixture in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        before = set(sys.modules)
        sys.argv = ["carpenter", "scan", "--no-cache", "--output-format", "json", fixture]
        saved = os.dup(1)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        daemon.call_main()
        new = sorted(set(sys.modules) - before)
        os.write(saved, f"{os.path.basename(fixture)} imported {new}\\n".encode())
        os._exit(0)
    os.waitpid(pid, 0)
"""


def test_a_warm_fork_neither_imports_nor_compiles_lazy_patterns() -> None:
    # What the warm-up must load so that a worker only scans: every module a scan of these
    # imports (bashlex included: a script tree-sitter rejects) and every lazy_compile pattern.
    fixtures = [*SAMPLES, "shell-parse-degraded", "qlora-cuda-pinned", "sec-token-files"]
    done = subprocess.run([sys.executable, "-c", NO_WORK,
                           *(str(FIXTURES / name) for name in fixtures)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "uncompiled 0"
    assert lines[1] == "records True stubs 0"  # every record's __init__ compiled in the server
    assert lines[2:] == [f"{name} imported []" for name in fixtures]


POPULATED = """
import os, resource, socket, sys
from carpenter import daemon
daemon.warm_up()
runs = daemon.learn_touched_pages()
print("runs", len(runs), flush=True)
request, link = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
request.send(b"a request came early")
for mode in ("plain", "populated", "interrupted"):
    pid = os.fork()
    if pid == 0:
        if mode != "plain":
            daemon.populate(runs, until=link if mode == "interrupted" else None)
        sys.argv = ["carpenter", "scan", "--no-cache", "--output-format", "json", sys.argv[1]]
        saved = os.dup(1)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        daemon.call_main()
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        os.write(saved, f"faults {faults}\\n".encode())
        os._exit(0)
    os.waitpid(pid, 0)
"""


def test_a_spare_copies_what_a_scan_writes_in_advance(tmp_path: Path) -> None:
    # The pages a scan writes to (learned from a scan of the sample) are copied before the
    # request: the scan itself then takes a fraction of the page faults (each ~1-3 us). A
    # request that is already there stops the copying (it would wait for it otherwise).
    # The submission is copied out of the checkout: inside a git clone its scan would also
    # read Carpenter's whole history (SEC004), ~40,000 faults that no sample predicts.
    sub = shutil.copytree(FIXTURES / "cuda-flash-attn", tmp_path / "cuda-flash-attn")
    done = subprocess.run([sys.executable, "-c", POPULATED, str(sub)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    runs, plain, populated, interrupted = (int(line.split()[1])
                                           for line in done.stdout.splitlines())
    if runs == 0:
        pytest.skip("no /proc/self/pagemap or MADV_POPULATE_WRITE (Linux < 5.14) here")
    assert populated < plain / 2, (plain, populated)
    assert interrupted > plain / 2, (plain, interrupted)
