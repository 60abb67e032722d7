"""Name why a submission's server (or training run) failed, with the log line that shows it.

The classes and their patterns are data (carpenter/data/smoke/failures.toml). A class is picked
from the log; `timeout`, `contract` and `crash` are decided by the checker (see server.py).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache

from carpenter.core.errors import ConfigError
from carpenter.core.redact import redact
from carpenter.core.resources import data_dir

CLASSES = ("import-error", "missing-env", "network", "model-load", "out-of-memory", "contract",
           "timeout", "crash")
# Hub ids named in offline-failure messages of transformers/huggingface_hub (4.3x to 5.x).
_ID = r"([A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*)"
REPO_PATTERNS = (
    re.compile(r"huggingface\.co/(?:api/models/)?" + _ID),
    re.compile(r"['\"]" + _ID + r"['\"] is not a local folder"),
    re.compile(r"[Rr]epo(?:sitory)?[ _]id[:=]? ?['\"]?" + _ID),
    re.compile(r"(?:load|find)[^'\"]{0,60}for ['\"]" + _ID + r"['\"]"),
    re.compile(r"models--([\w.\-]+)--([\w.\-]+)"),
)
NOT_REPOS = frozenset({"docs", "api", "models", "datasets", "spaces", "settings", "join", "login"})


@dataclass(frozen=True)
class FailureClass:
    name: str
    hint: str
    patterns: tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class Failure:
    name: str
    evidence: str
    hint: str = ""


@cache
def load_classes() -> tuple[FailureClass, ...]:
    path = data_dir() / "smoke" / "failures.toml"
    try:
        data = tomllib.loads(path.read_text())
        return tuple(FailureClass(item["name"], item.get("hint", ""),
                                  tuple(re.compile(p) for p in item["patterns"]))
                     for item in data["classes"])
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, re.error) as exc:
        raise ConfigError(f"malformed failure classes: {exc}", path=str(path)) from exc


def classify_log(log: str) -> Failure | None:
    """The first class with a matching line (its last match: the error, not a warning above)."""
    lines = log.splitlines()
    for klass in load_classes():
        for line in reversed(lines):
            if any(p.search(line) for p in klass.patterns):
                return Failure(klass.name, redact(line.strip())[:300], klass.hint)
    return None


def classify_exit(log: str, exit_code: int | None, oom_killed: bool,
                  limit_bytes: int | None = None) -> Failure:
    """`limit_bytes`: the container's memory limit, named in the evidence of an OOM kill."""
    if oom_killed:
        limit = f" at its {limit_bytes / 2**20:g} MiB limit" if limit_bytes else ""
        return Failure("out-of-memory", f"the container was OOM-killed{limit} (exit {exit_code})",
                       "the process ran out of the container's memory (smoke --memory; "
                       "the evaluation host's own limit decides for real)")
    found = classify_log(log)
    if found:
        return found
    last = next((line for line in reversed(log.splitlines()) if line.strip()), "no output")
    return Failure("crash", redact(last.strip())[:300], f"the server exited with code {exit_code}")


def classify_timeout(log: str, seconds: float) -> Failure:
    """A server that hangs retrying the hub is a network failure, not merely slow."""
    found = classify_log(log)
    if found and found.name in ("network", "out-of-memory"):
        return found
    return Failure("timeout", f"no answer within {seconds:g} s",
                   "start-up too slow (the organizers wait about 20 minutes) or the server hung")


def repos_in_log(log: str) -> list[str]:
    """Hub ids the log names (an offline failure names what it tried to fetch), in order."""
    found: list[str] = []
    for line in log.splitlines():
        for pattern in REPO_PATTERNS:
            for match in pattern.finditer(line):
                repo = "/".join(match.groups())
                org = repo.split("/")[0]
                if org.lower() not in NOT_REPOS and repo not in found:
                    found.append(repo.rstrip("."))
    return found
