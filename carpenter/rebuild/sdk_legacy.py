"""The legacy builder through the docker SDK: memory limits and a clean cancel.

The SDK has no wall clock (`timeout=` is a per-read socket timeout), so a watchdog thread
shuts down the `/build` response socket at the deadline; the daemon notices the client is gone
and kills and removes the RUN container. The read timeout stays as a stall detector.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from typing import Any

from carpenter.containers import (
    api_client_class,
    connect,
    context_tar,
    image_id,
    sdk_errors,
    untag_if_changed,
    wait_gone,
)
from carpenter.rebuild.interface import BackendOutcome, LogSink, PreparedBuild

_RUNNING_IN = re.compile(r"---> Running in ([0-9a-f]{12,64})")
_PARSE_ERROR = re.compile(r"parse error|unknown instruction|requires BuildKit", re.IGNORECASE)


class _Cancelled(OSError):
    pass


class _UploadReader:
    """The context tarball as a request body that stops at the deadline (the upload is part of
    the wall clock; a large context can take seconds)."""

    def __init__(self, fileobj: Any, cancelled: threading.Event) -> None:
        self._f = fileobj
        self._cancelled = cancelled
        fileobj.seek(0, os.SEEK_END)
        self._size = fileobj.tell()
        fileobj.seek(0)

    def __len__(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        if self._cancelled.is_set():
            raise _Cancelled("build cancelled during the context upload")
        return self._f.read(n)


def _client_class() -> type:
    class WatchedAPIClient(api_client_class()):  # type: ignore[misc]
        """Remembers the streaming `/build` response so another thread can cut it."""

        build_response: Any = None

        def _post(self, url: str, **kwargs: Any) -> Any:
            response = super()._post(url, **kwargs)
            if url.endswith("/build"):
                self.build_response = response
            return response

    return WatchedAPIClient


def _shutdown(response: Any) -> None:
    """Shut the socket under a streaming response; the blocked reader then gets an error."""
    raw = getattr(response, "raw", None)
    candidates = [
        lambda: raw._connection.sock,  # urllib3 2.x keeps the connection on the response
        lambda: raw._fp.fp.raw._sock,  # http.client's socket file
    ]
    for get in candidates:
        try:
            sock = get()
        except AttributeError:
            continue
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                return
            except OSError:
                continue


def _is_read_timeout(exc: BaseException) -> bool:
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        cur = stack.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, TimeoutError) or "ReadTimeout" in type(cur).__name__:
            return True
        stack.extend(e for e in (cur.__cause__, cur.__context__) if e is not None)
        stack.extend(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))
    return "Read timed out" in str(exc)


def _context_tar(prepared: PreparedBuild) -> tuple[Any, str]:
    """The context as docker-py would send it (.dockerignore applied client-side)."""
    context = str(prepared.request.context)
    exclude = None
    ignore = os.path.join(context, ".dockerignore")
    if os.path.exists(ignore):
        with open(ignore, encoding="utf-8", errors="replace") as fh:
            exclude = [
                ln.strip() for ln in fh.read().splitlines() if ln.strip() and ln.strip()[0] != "#"
            ]
    return context_tar(context, str(prepared.dockerfile), exclude)


def _context_tar_before(prepared: PreparedBuild, cancelled: threading.Event) -> tuple[Any, str]:
    """Pack the context in a worker thread so a huge context cannot outlive the deadline
    (packing is not interruptible; the worker's file is dropped when it finishes)."""
    box: dict[str, Any] = {}

    def pack() -> None:
        try:
            box["tar"] = _context_tar(prepared)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=pack, daemon=True)
    worker.start()
    while worker.is_alive():
        if cancelled.wait(0.05):
            raise _Cancelled("build cancelled while packing the context")
    if "error" in box:
        raise box["error"]
    return box["tar"]


class LegacyBackend:
    name = "legacy"

    def unavailable_reason(self) -> str | None:
        return None  # every engine with the SDK's API has it

    def build(self, prepared: PreparedBuild, sink: LogSink) -> BackendOutcome:
        outcome = BackendOutcome(backend=self.name)
        client = connect(_client_class())
        req = prepared.request
        tag_before = image_id(client, req.tag)
        cancelled, finished = threading.Event(), threading.Event()
        watchdog = threading.Thread(
            target=self._watchdog, args=(client, prepared.deadline, cancelled, finished),
            daemon=True,
        )
        containers: list[str] = []
        try:
            watchdog.start()
            tarball, dockerfile_name = _context_tar_before(prepared, cancelled)
            with tarball:
                self._stream(client, prepared, _UploadReader(tarball, cancelled),
                             dockerfile_name, sink, outcome, containers)
        except Exception as exc:
            self._failed(exc, cancelled, sink, outcome)
        finally:
            finished.set()
            if watchdog.is_alive():
                watchdog.join(timeout=2)
            if client.build_response is not None:
                client.build_response.close()
        if cancelled.is_set() and not outcome.stalled:
            outcome.timed_out = True
        if not outcome.ok or outcome.timed_out:
            outcome.ok = False
            if outcome.stalled or outcome.timed_out or outcome.engine_error:
                outcome.swept = wait_gone(client, containers)
            outcome.untagged = untag_if_changed(client, req.tag, tag_before)
        client.close()
        return outcome

    @staticmethod
    def _watchdog(
        client: Any, deadline: float, cancelled: threading.Event, finished: threading.Event
    ) -> None:
        if finished.wait(max(0.0, deadline - time.monotonic())):
            return
        cancelled.set()
        # The response may not exist yet (still uploading): the upload reader stops on its own.
        while not finished.is_set():
            if client.build_response is not None:
                _shutdown(client.build_response)
                return
            time.sleep(0.05)

    @staticmethod
    def _stream(
        client: Any, prepared: PreparedBuild, body: _UploadReader, dockerfile_name: str,
        sink: LogSink, outcome: BackendOutcome, containers: list[str],
    ) -> None:
        req = prepared.request
        limits = {"memory": req.memory, "memswap": req.memory} if req.memory else {}
        stream = client.build(
            fileobj=body, custom_context=True, dockerfile=dockerfile_name, tag=req.tag,
            buildargs=dict(req.build_args), nocache=req.no_cache, pull=False, rm=True,
            forcerm=True, network_mode=req.network, container_limits=limits, decode=True,
            timeout=req.stall_timeout,
        )
        for item in stream:
            if "stream" in item:
                sink.write(item["stream"])
                containers.extend(_RUNNING_IN.findall(item["stream"]))
            elif "status" in item:
                sink.write(f"{item['status']} {item.get('progress', '')}".rstrip() + "\n")
            if "aux" in item and isinstance(item["aux"], dict) and "ID" in item["aux"]:
                outcome.image_id = item["aux"]["ID"]
            if "error" in item:
                outcome.error = item["error"].strip()
                outcome.exit_code = (item.get("errorDetail") or {}).get("code")
                sink.write(f"ERROR: {outcome.error}\n")
        # Success is an image id and no error event: the stream itself ends quietly either way.
        outcome.ok = outcome.image_id is not None and outcome.error is None

    @staticmethod
    def _failed(
        exc: Exception, cancelled: threading.Event, sink: LogSink, outcome: BackendOutcome
    ) -> None:
        APIError = sdk_errors().APIError

        if cancelled.is_set():
            where = str(exc) if isinstance(exc, _Cancelled) else "build connection closed"
            sink.note(f"wall-clock deadline reached: {where}")
            return
        if _is_read_timeout(exc):
            outcome.stalled = True
            sink.note("no output within the stall limit: build connection closed")
            return
        if isinstance(exc, APIError):
            message = str(exc.explanation or exc).strip()
            outcome.error = message
            sink.write(f"ERROR: {message}\n")
            if exc.status_code == 400 and _PARSE_ERROR.search(message):
                outcome.parse_error = True
            elif not exc.is_client_error():
                outcome.engine_error = message
            return
        outcome.engine_error = f"{type(exc).__name__}: {exc}"[:500]
        sink.write(f"ERROR: lost the build stream: {outcome.engine_error}\n")
