"""`carpenter snapshot create`: resolve a package list as an index served it at a date.

Resolution is `uv pip compile --exclude-newer`, run in isolation: date filters rely on the
index's upload times (PEP 700), and local wheel folders, `file://` indexes and pip/uv
configuration files carry none, so they silently leak today's versions into a "2023"
resolution. We therefore drop every PIP_*/UV_* variable, pass --no-config, name the index
explicitly, and afterwards check every pin's upload time against the cut-off.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from carpenter.core.errors import SnapshotError
from carpenter.snapshot import pypi
from carpenter.snapshot.model import Snapshot, Target

PYPI = "https://pypi.org/simple"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")
_PLATFORMS = {"linux/amd64": "x86_64-unknown-linux-gnu", "linux/arm64": "aarch64-unknown-linux-gnu"}


@dataclass
class CreateRequest:
    as_of: str
    requirements: list[str]  # requirement strings (from -r files and arguments)
    python: str = "3.10"
    platform: str = "x86_64-unknown-linux-gnu"
    name: str = ""
    index_url: str = PYPI
    latest_only: list[str] = field(default_factory=list)  # dated, not resolved (sdist-only)
    verify: bool = True
    timeout: float = 900


def cutoff_of(as_of: str) -> datetime:
    """A date means "as served at the end of that day (UTC)"; a timestamp is taken as is."""
    try:
        if "T" in as_of:
            moment = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        day = date.fromisoformat(as_of)
    except ValueError as exc:
        raise SnapshotError(f"--as-of {as_of!r} is neither a date nor an ISO 8601 time") from exc
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


# uv settings about transport only (TLS trust through a proxy, cache, timeouts): they cannot
# change which versions exist, so they are kept.
_UV_TRANSPORT = frozenset({"UV_NATIVE_TLS", "UV_CACHE_DIR", "UV_HTTP_TIMEOUT",
                           "UV_CONCURRENT_DOWNLOADS"})


def isolated_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for the resolver: no pip/uv settings from the host can leak in."""
    env = {k: v for k, v in (base if base is not None else os.environ).items()
           if k in _UV_TRANSPORT or not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "CONDA_",
                                                       "PYTHONPATH"))}
    env.update({
        "UV_NO_CONFIG": "1",  # no uv.toml / pyproject [tool.uv] from cwd, user or system
        "UV_PYTHON_DOWNLOADS": "never",  # resolving for a target needs no interpreter
        "PIP_CONFIG_FILE": os.devnull,  # belt and braces for any pip that uv might spawn
        "PIP_NO_INPUT": "1",
    })
    return env


def uv_command(req: CreateRequest, in_file: Path, uv_bin: str) -> list[str]:
    platform = _PLATFORMS.get(req.platform, req.platform)
    return [
        uv_bin, "pip", "compile", str(in_file),
        "--no-config", "--index-url", req.index_url, "--no-sources",
        "--exclude-newer", cutoff_of(req.as_of).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--python-version", req.python, "--python-platform", platform,
        "--no-header", "--no-annotate", "--quiet", "--color", "never",
    ]


def find_uv() -> str:
    try:
        from uv import find_uv_bin  # the `uv` PyPI package ships the binary
        return find_uv_bin()
    except (ImportError, FileNotFoundError) as exc:
        raise SnapshotError("uv is not installed (pip install uv)") from exc


def parse_pins(text: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in text.splitlines():
        match = _PIN.match(line.strip())
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(3)
    return pins


def read_requirements(path: Path) -> list[str]:
    """Requirement lines of a `.in`/requirements file (comments and options dropped)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SnapshotError(f"cannot read requirements: {exc.strerror}", path=str(path)) from exc
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            Requirement(line)
        except InvalidRequirement as exc:
            raise SnapshotError(f"invalid requirement: {exc}", path=str(path), line=number) from exc
        out.append(line)
    return out


def resolve(req: CreateRequest, runner=subprocess.run) -> tuple[dict[str, str], list[str]]:
    """Run the isolated resolver; returns (pins, command)."""
    uv_bin = find_uv()
    with tempfile.TemporaryDirectory(prefix="carpenter-snap-") as tmp:
        in_file = Path(tmp) / "snapshot.in"
        in_file.write_text("\n".join(req.requirements) + "\n")
        cmd = uv_command(req, in_file, uv_bin)
        # cwd = an empty folder so no project file can configure uv either.
        try:
            done = runner(cmd, cwd=tmp, env=isolated_env(), capture_output=True, text=True,
                          timeout=req.timeout)
        except subprocess.TimeoutExpired as exc:
            raise SnapshotError(f"resolver timed out after {req.timeout:.0f} s") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-25:]
        raise SnapshotError("resolution failed:\n  " + "\n  ".join(detail))
    return parse_pins(done.stdout), cmd


def date_latest_only(names: list[str], req: CreateRequest) -> dict[str, str]:
    cutoff = cutoff_of(req.as_of)
    out = {}
    for name in names:
        found = pypi.latest_before(name, cutoff, req.index_url)
        if found is None:
            raise SnapshotError(f"{name}: no release uploaded before {cutoff:%Y-%m-%d %H:%M}Z")
        out[canonicalize_name(name)] = str(found[0])
    return out


def check_upload_times(pins: dict[str, str], req: CreateRequest) -> list[str]:
    """Pins whose first upload is missing or after the cut-off (should be empty)."""
    cutoff = cutoff_of(req.as_of)
    bad = []
    for name, uploaded in sorted(pypi.first_uploads(pins, req.index_url).items()):
        if uploaded is None or uploaded >= cutoff:
            when = uploaded.isoformat() if uploaded else "no upload time"
            bad.append(f"{name}=={pins[name]} ({when})")
    return bad


def create_snapshot(req: CreateRequest, command_line: str = "",
                    runner=subprocess.run) -> Snapshot:
    if not req.requirements and not req.latest_only:
        raise SnapshotError("nothing to resolve: give packages or -r FILE")
    pins, cmd = resolve(req, runner) if req.requirements else ({}, [])
    dated = date_latest_only(req.latest_only, req) if req.latest_only else {}
    pins.update(dated)
    bad = check_upload_times(pins, req) if req.verify else []
    if bad:
        raise SnapshotError("pins newer than the cut-off leaked into the resolution (isolation "
                            "failure?): " + ", ".join(bad))
    uv_version = subprocess.run([find_uv(), "--version"], capture_output=True, text=True,
                                env=isolated_env()).stdout.strip()
    provenance = {
        "created_with": command_line or "carpenter snapshot create",
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resolver": uv_version,
        # Binary and temporary input shown by name only: the rest is the exact command.
        "resolver_command": " ".join(Path(c).name if i in (0, 3) else c
                                     for i, c in enumerate(cmd)),
        "index_url": req.index_url,
        "exclude_newer": cutoff_of(req.as_of).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "isolation": "PIP_*/UV_* env dropped, UV_NO_CONFIG=1, --no-config, explicit "
                     "--index-url, empty cwd",
        "upload_times_verified": req.verify,
        "inputs": sorted(req.requirements, key=str.lower),
        "latest_only": sorted(canonicalize_name(n) for n in req.latest_only),
    }
    return Snapshot(name=req.name or f"snapshot-{req.as_of}", as_of=req.as_of[:10],
                    target=Target(python=req.python, platform=_PLATFORMS.get(req.platform,
                                                                             req.platform)),
                    provenance=provenance, pypi=dict(sorted(pins.items())))
