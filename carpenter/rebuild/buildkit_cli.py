"""BuildKit through the docker CLI as a subprocess (the docker SDK cannot drive BuildKit).

`docker buildx build` when the plugin is present, else `DOCKER_BUILDKIT=1 docker build` with a
CLI older than 23 (which embeds BuildKit). Cancelled by signalling the process group: SIGINT
first (BuildKit marks the step CANCELED), SIGKILL if it lingers.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from functools import lru_cache
from pathlib import Path

from carpenter.containers import connect, image_id, untag_if_changed
from carpenter.rebuild.engine import cli_output, docker_cli
from carpenter.rebuild.interface import BackendOutcome, LogSink, PreparedBuild

SIGINT_GRACE_S = 1.0  # then SIGKILL, so a cancel stays well inside the 2 s budget
_EXIT = re.compile(r"exit code: (\d+)")


@lru_cache(maxsize=4)
def buildkit_mode(cli: str | None) -> tuple[str | None, str]:
    """("buildx" | "embedded" | None, description or reason)."""
    if cli is None:
        return None, "no docker CLI found (BuildKit builds run through the CLI)"
    rc, out = cli_output([cli, "buildx", "version"])
    if rc == 0:
        return "buildx", f"{cli} buildx ({out.splitlines()[0] if out else 'unknown version'})"
    rc, out = cli_output([cli, "version", "--format", "{{.Client.Version}}"])
    version = out.splitlines()[0].strip() if rc == 0 and out else ""
    major = version.split(".")[0]
    if major.isdigit() and int(major) < 23:
        return "embedded", f"{cli} {version} with DOCKER_BUILDKIT=1"
    return None, (
        f"{cli} {version or '(version unknown)'} has no buildx plugin, and docker CLI 23+ "
        "needs it for BuildKit"
    )


class BuildKitBackend:
    name = "buildkit"

    def __init__(self, cli: str | None = None) -> None:
        self.cli = cli or docker_cli()

    def unavailable_reason(self) -> str | None:
        mode, reason = buildkit_mode(self.cli)
        return None if mode else reason

    def argv(self, prepared: PreparedBuild, iidfile: Path) -> list[str]:
        mode, _ = buildkit_mode(self.cli)
        req = prepared.request
        argv = [self.cli or "docker"]
        argv += ["buildx", "build", "--load"] if mode == "buildx" else ["build"]
        argv += ["--progress", "plain", "-f", str(prepared.dockerfile), "-t", req.tag,
                 "--iidfile", str(iidfile)]
        if req.network == "none":
            argv += ["--network", "none"]
        for key, value in req.build_args.items():
            argv += ["--build-arg", f"{key}={value}"]
        for secret_id, path in prepared.secret_files.items():
            argv += ["--secret", f"id={secret_id},src={path}"]
        if req.no_cache:
            argv.append("--no-cache")
        argv.append(str(req.context))
        return argv

    def build(self, prepared: PreparedBuild, sink: LogSink) -> BackendOutcome:
        outcome = BackendOutcome(backend=self.name)
        client = connect()
        tag_before = image_id(client, prepared.request.tag)
        iidfile = prepared.dockerfile.parent / f".carpenter-iid-{os.getpid()}-{time.time_ns()}"
        env = {**os.environ, "DOCKER_BUILDKIT": "1", "BUILDKIT_PROGRESS": "plain",
               "DOCKER_CLI_HINTS": "false"}
        try:
            proc = subprocess.Popen(
                self.argv(prepared, iidfile), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=env, start_new_session=True,
            )
        except OSError as exc:
            outcome.engine_error = f"cannot start {self.cli}: {exc}"
            sink.write(f"ERROR: {outcome.engine_error}\n")
            return outcome
        last_output = [time.monotonic()]
        reader = threading.Thread(target=_pump, args=(proc, sink, last_output), daemon=True)
        reader.start()
        try:
            rc = self._supervise(proc, prepared, last_output, outcome, sink)
        except BaseException:
            # Ctrl-C/SIGTERM reach only carpenter: the CLI runs in its own session.
            _cancel(proc)
            raise
        reader.join(timeout=2)
        if rc == 0 and iidfile.exists() and not (outcome.timed_out or outcome.stalled):
            outcome.ok = True
            outcome.image_id = iidfile.read_text().strip()
        else:
            self._record_failure(rc, sink, outcome)
            outcome.untagged = untag_if_changed(client, prepared.request.tag, tag_before)
        iidfile.unlink(missing_ok=True)
        client.close()
        return outcome

    @staticmethod
    def _supervise(
        proc: subprocess.Popen, prepared: PreparedBuild, last_output: list[float],
        outcome: BackendOutcome, sink: LogSink,
    ) -> int:
        stall = prepared.request.stall_timeout
        while True:
            try:
                return proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if now >= prepared.deadline:
                outcome.timed_out = True
                sink.note("wall-clock deadline reached: cancelling the build")
            elif now - last_output[0] >= stall:
                outcome.stalled = True
                sink.note("no output within the stall limit: cancelling the build")
            else:
                continue
            return _cancel(proc)

    @staticmethod
    def _record_failure(rc: int, sink: LogSink, outcome: BackendOutcome) -> None:
        tail = [text for _, text in list(sink.lines)[-40:] if text.strip()]
        errors = [t for t in tail if "ERROR" in t or "error" in t]
        outcome.error = (errors[-1] if errors else (tail[-1] if tail else f"exit status {rc}"))
        codes = [int(m.group(1)) for t in tail if (m := _EXIT.search(t))]
        outcome.exit_code = codes[-1] if codes else None


def _pump(proc: subprocess.Popen, sink: LogSink, last_output: list[float]) -> None:
    assert proc.stdout is not None
    for chunk in iter(lambda: proc.stdout.read1(65536), b""):  # type: ignore[union-attr]
        last_output[0] = time.monotonic()
        sink.write(chunk.decode("utf-8", errors="replace"))


def _cancel(proc: subprocess.Popen) -> int:
    for sig, grace in ((signal.SIGINT, SIGINT_GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            return proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()
