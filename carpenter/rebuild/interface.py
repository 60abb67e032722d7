"""Types shared by the rebuild stage: what to build, what a backend reports, what the user sees."""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from carpenter.core.options import SecretSpec
from carpenter.core.redact import redact

FAILURE_CLASSES = (
    "dependency-resolution",
    "network",
    "missing-context-file",
    "cuda-compile",
    "out-of-memory",
    "apt-version-missing",
    "base-image-missing",
    "parse-error",
    "needs-buildkit",
    "timeout",
    "command-failed",
    "engine-error",
)

DEFAULT_TIMEOUT_S = 3600.0
DEFAULT_STALL_S = 900.0  # silence this long means a hung download or a deadlocked step


@dataclass
class BuildRequest:
    context: Path
    dockerfile: Path
    tag: str
    timeout: float = DEFAULT_TIMEOUT_S
    stall_timeout: float = DEFAULT_STALL_S
    memory: int | None = None  # bytes
    network: str = "default"  # default | none
    build_args: dict[str, str] = field(default_factory=dict)
    secrets: list[SecretSpec] = field(default_factory=list)
    ca_bundle: Path | None = None
    no_cache: bool = False
    base_map: dict[str, str] = field(default_factory=dict)
    backend: str = "auto"  # auto | legacy | buildkit


@dataclass
class PreparedBuild:
    """A request after pre-flight: the Dockerfile actually sent (maybe rewritten) and secrets."""

    request: BuildRequest
    dockerfile: Path  # the file handed to the engine (a rewritten copy when bases are mapped)
    secret_files: dict[str, str]  # secret id -> file path (env secrets written to a private file)
    secret_values: list[str]  # for redaction of the log
    started: float  # time.monotonic() when the wall clock started

    @property
    def deadline(self) -> float:
        return self.started + self.request.timeout


@dataclass
class BackendOutcome:
    """What one backend observed; classification happens afterwards, from this and the log."""

    backend: str
    ok: bool = False
    image_id: str | None = None
    error: str | None = None  # the engine's final error message, if any
    exit_code: int | None = None  # of the failing RUN step, when known
    timed_out: bool = False
    stalled: bool = False
    engine_error: str | None = None  # transport/API failure (daemon gone, refused request)
    parse_error: bool = False  # the engine refused the Dockerfile before running anything
    swept: list[str] = field(default_factory=list)  # build containers removed after a cancel
    untagged: bool = False  # a tag applied by a cancelled build was removed


@dataclass
class BuildResult:
    path: str
    dockerfile: str
    status: str  # built | failed
    failure_class: str | None = None
    message: str = ""
    evidence: str | None = None
    evidence_line: int | None = None  # line number in the log file
    exit_code: int | None = None
    duration_s: float = 0.0
    backend: str | None = None
    tag: str | None = None
    image_id: str | None = None
    image_size: int | None = None
    log_path: str | None = None
    pip_freeze: list[str] | None = None
    base_substitutions: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # preflight_s, build_s, inspect_s

    @property
    def built(self) -> bool:
        return self.status == "built"

    def to_dict(self) -> dict:
        return asdict(self)


class Backend(Protocol):
    name: str

    def unavailable_reason(self) -> str | None:
        """None when this backend can build here, else a one-line reason."""

    def build(self, prepared: PreparedBuild, sink: LogSink) -> BackendOutcome: ...


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
KEEP_LINES = 50_000  # the classifier reads the tail; the file on disk keeps everything


class LogSink:
    """Collects build output line by line, redacted, into memory and the log file.

    Writes go to `<log>.part`; `close()` renames it, so an interrupted run never leaves a log
    that looks complete.
    """

    def __init__(self, path: Path | None, secret_values: list[str] | None = None) -> None:
        self.path = path
        self._known = list(secret_values or [])
        self._partial = ""
        self._lock = threading.Lock()
        self.lines: deque[tuple[int, str]] = deque(maxlen=KEEP_LINES)
        self.count = 0
        self._fh = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self._part_path, "w", encoding="utf-8")  # noqa: SIM115

    @property
    def _part_path(self) -> Path:
        assert self.path is not None
        return self.path.with_name(self.path.name + ".part")

    def write(self, text: str) -> None:
        """Append raw output (may hold partial lines); complete lines are recorded."""
        with self._lock:
            data = self._partial + text.replace("\r\n", "\n").replace("\r", "\n")
            *complete, self._partial = data.split("\n")
            for line in complete:
                self._record(line)

    def note(self, line: str) -> None:
        """A line of Carpenter's own (marked so it is never mistaken for build output)."""
        self.write(f"[carpenter] {line}\n")

    def _record(self, line: str) -> None:
        clean = redact(_ANSI.sub("", line), self._known)
        self.count += 1
        self.lines.append((self.count, clean))
        if self._fh is not None:
            self._fh.write(clean + "\n")
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._partial:
                self._record(self._partial)
                self._partial = ""
            if self._fh is not None:
                self._fh.close()
                self._fh = None
                self._part_path.replace(self.path)  # type: ignore[arg-type]
