"""The classifier on recorded log shapes of both builders (no engine needed)."""

from __future__ import annotations

import pytest

from carpenter.rebuild.classify import classify, failing_step, load_rules
from carpenter.rebuild.interface import FAILURE_CLASSES, BackendOutcome


def numbered(text: str) -> list[tuple[int, str]]:
    return list(enumerate(text.strip("\n").splitlines(), start=1))


LEGACY = """\
Step 1/3 : FROM base
 ---> 32ab667bfdb3
Step 2/3 : RUN pip install torch
 ---> Running in 111111111111
WARNING: Retrying (Retry(total=3)) after connection broken by 'SSLError(CERTIFICATE_VERIFY_FAILED)'
Successfully installed torch
Step 3/3 : RUN pip install --no-index six==99
 ---> Running in 222222222222
ERROR: Could not find a version that satisfies the requirement six==99 (from versions: none)
ERROR: No matching distribution found for six==99
ERROR: The command '/bin/sh -c pip install --no-index six==99' returned a non-zero code: 1
"""

BUILDKIT = """\
#5 [2/3] RUN pip download six
#5 0.5 WARNING: Retrying: NewConnectionError: Temporary failure in name resolution
#5 DONE 3.0s

#6 [3/3] RUN exit 3
#6 ERROR: executor failed running [/bin/sh -c exit 3]: exit code: 3
------
 > [3/3] RUN exit 3:
------
executor failed running [/bin/sh -c exit 3]: exit code: 3
"""


def test_every_class_is_known():
    names = [rule.name for rule in load_rules()]
    assert set(names) <= set(FAILURE_CLASSES)
    assert len(names) == len(set(names))


def test_only_the_failing_step_is_read_legacy():
    # The earlier step's retry warning must not turn a resolution failure into `network`.
    found = classify(BackendOutcome("legacy", error="x", exit_code=1), numbered(LEGACY),
                     timeout_s=60, stall_s=60, memory_limited=False)
    assert found.failure_class == "dependency-resolution"
    assert found.evidence == "ERROR: No matching distribution found for six==99"
    assert found.evidence_line == 10
    assert found.exit_code == 1


def test_only_the_failing_vertex_is_read_buildkit():
    lines = numbered(BUILDKIT)
    step = failing_step(lines)
    assert all("name resolution" not in text for _, text in step)
    found = classify(BackendOutcome("buildkit"), lines, timeout_s=60, stall_s=60,
                     memory_limited=False)
    assert (found.failure_class, found.exit_code) == ("command-failed", 3)
    assert found.evidence.endswith("exit code: 3")


def test_exit_137_is_out_of_memory_only_under_a_cap():
    log = numbered("Step 1/1 : RUN python big.py\n"
                   "ERROR: The command 'x' returned a non-zero code: 137")
    capped = classify(BackendOutcome("legacy"), log, timeout_s=9, stall_s=9, memory_limited=True)
    uncapped = classify(BackendOutcome("legacy"), log, timeout_s=9, stall_s=9,
                        memory_limited=False)
    assert capped.failure_class == "out-of-memory"
    assert (uncapped.failure_class, uncapped.exit_code) == ("command-failed", 137)


@pytest.mark.parametrize(("line", "expected"), [
    ("ERROR: ResolutionImpossible: for help visit https://pip.pypa.io", "dependency-resolution"),
    ("E: Unable to locate package libfoo-dev", "apt-version-missing"),
    ("nvcc fatal   : Unsupported gpu architecture 'compute_90'", "cuda-compile"),
    ("OSError: CUDA_HOME environment variable is not set.", "cuda-compile"),
    ("curl: (60) SSL certificate problem: self-signed certificate in certificate chain",
     "network"),
    ("COPY failed: file not found in build context or excluded by .dockerignore: stat x",
     "missing-context-file"),
    ('failed to compute cache key: "/weights.bin" not found: not found', "missing-context-file"),
    ("dockerfile parse error line 3: unknown instruction: ECHO", "parse-error"),
    ("the --chmod option requires BuildKit.", "needs-buildkit"),
    ("MemoryError", "out-of-memory"),
    ("c++: fatal error: Killed signal terminated program cc1plus", "out-of-memory"),
])
def test_patterns(line, expected):
    found = classify(BackendOutcome("legacy"), numbered(f"Step 1/1 : RUN x\n{line}"),
                     timeout_s=9, stall_s=9, memory_limited=False)
    assert found.failure_class == expected
    assert found.evidence == line


def test_cuda_wins_over_the_resolution_noise_it_causes():
    log = numbered("""\
Step 2/2 : RUN pip install flash-attn
  nvcc fatal   : Unsupported gpu architecture 'compute_90'
  ERROR: Failed building wheel for flash-attn
ERROR: Could not build wheels for flash-attn
""")
    found = classify(BackendOutcome("legacy"), log, timeout_s=9, stall_s=9, memory_limited=False)
    assert found.failure_class == "cuda-compile"


def test_timeout_points_at_the_running_step():
    log = numbered("Step 1/2 : FROM base\nStep 2/2 : RUN sleep 600\n ---> Running in 1234567890ab")
    found = classify(BackendOutcome("legacy", timed_out=True), log, timeout_s=10, stall_s=900,
                     memory_limited=False)
    assert found.failure_class == "timeout"
    assert (found.evidence, found.evidence_line) == ("Step 2/2 : RUN sleep 600", 2)
    stalled = classify(BackendOutcome("legacy", stalled=True), log, timeout_s=10, stall_s=300,
                       memory_limited=False)
    assert "no build output for 300 s" in stalled.message


def test_engine_error_without_a_pattern():
    found = classify(BackendOutcome("legacy", engine_error="connection reset by peer"),
                     numbered("Step 1/1 : RUN make"), timeout_s=9, stall_s=9,
                     memory_limited=False)
    assert (found.failure_class, found.evidence) == ("engine-error", "connection reset by peer")
