"""Result types of `carpenter smoke`: plain dataclasses that serialise to JSON as they are."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass
class Check:
    name: str
    status: str  # pass | fail | skip
    detail: str
    value: Any = None

    @property
    def failed(self) -> bool:
        return self.status == FAIL


@dataclass
class ServerResult:
    """The contract check of the image's own CMD (see carpenter/data/contracts/)."""

    contract: str
    port: int
    address: str | None = None
    ready_after_s: float | None = None
    checks: list[Check] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    log_tail: str = ""
    # Why the server failed: one of smoke.failures.CLASSES, the log line, what to do.
    failure: dict[str, str] | None = None
    # Hub ids served by tiny random-weight stand-ins: the code path is proven, not the model.
    substituted: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    budget: dict[str, Any] = field(default_factory=dict)
    peak_memory_mb: float | None = None

    def add(self, name: str, ok: bool, detail: str, value: Any = None) -> bool:
        self.checks.append(Check(name, PASS if ok else FAIL, detail, value))
        return ok

    def skip(self, name: str, detail: str) -> None:
        self.checks.append(Check(name, SKIP, detail))


@dataclass
class TrainResult:
    """The submission's own training entry point, run on tiny stand-ins and a tiny dataset."""

    command: list[str] = field(default_factory=list)
    # How far it got: not-started | model-load | first-step | finished.
    stage: str = "not-started"
    stopped_by_cap: bool = False  # the wall-clock cap stopped it (it ignored the step caps)
    steps_logged: int = 0  # log lines that look like an optimizer step (loss lines)
    exit_code: int | None = None
    wall_s: float | None = None
    evidence: dict[str, str] = field(default_factory=dict)  # stage -> the log line proving it
    checks: list[Check] = field(default_factory=list)
    failure: dict[str, str] | None = None
    substituted: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    peak_memory_mb: float | None = None
    log_tail: str = ""

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, PASS if ok else FAIL, detail))
        return ok


@dataclass
class SmokeResult:
    image: str
    image_id: str | None = None
    status: str = "error"  # passed | failed | error (harness could not produce a result)
    device: str | None = None
    gpu_requested: str = "auto"
    gpu_fallback: str | None = None  # why a GPU request fell back to CPU
    versions: dict[str, Any] = field(default_factory=dict)
    tokenizer: str | None = None
    trainable_params: int | None = None
    losses: list[float] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float | None = None
    missing: list[str] = field(default_factory=list)
    log_tail: str = ""
    server: ServerResult | None = None
    train: TrainResult | None = None
    # Hub ids found in the submission's folder (scan DL001, from_pretrained literals).
    context_ids: list[str] = field(default_factory=list)

    def all_checks(self) -> list[Check]:
        return (self.checks + (self.server.checks if self.server else [])
                + (self.train.checks if self.train else []))

    @property
    def passed(self) -> bool:
        return self.status == "passed" and not any(c.failed for c in self.all_checks())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        return data
