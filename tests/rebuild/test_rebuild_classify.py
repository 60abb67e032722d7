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


# --- evidence names the cause (issue 15) -------------------------------------------------------

def _classify(log: str, **outcome: object):
    return classify(BackendOutcome("buildkit", **outcome), numbered(log), timeout_s=60,
                    stall_s=60, memory_limited=False)


BK_RESOLUTION = """\
#7 [3/4] RUN pip install -r requirements.txt
#7 1.204 Collecting torch==2.0.0 (from -r requirements.txt (line 1))
#7 3.518 Collecting torchvision==0.16.0 (from -r requirements.txt (line 2))
#7 4.001 INFO: pip is looking at multiple versions of torchvision to determine which version \
is compatible with other requirements. This could take a while.
#7 4.120 ERROR: Cannot install -r requirements.txt (line 1) and torchvision==0.16.0 because \
these package versions have conflicting dependencies.
#7 4.121
#7 4.121 The conflict is caused by:
#7 4.121     The user requested torch==2.0.0
#7 4.121     torchvision 0.16.0 depends on torch==2.1.0
#7 4.121
#7 4.121 To fix this you could try to:
#7 4.121 1. loosen the range of package versions you've specified
#7 4.121 2. remove package versions to allow pip attempt to solve the dependency conflict
#7 4.121
#7 4.122 ERROR: ResolutionImpossible: for help visit \
https://pip.pypa.io/en/latest/topics/dependency-resolution/#dealing-with-dependency-conflicts
#7 ERROR: process "/bin/sh -c pip install -r requirements.txt" did not complete \
successfully: exit code: 1
------
 > [3/4] RUN pip install -r requirements.txt:
4.121 2. remove package versions to allow pip attempt to solve the dependency conflict
4.121
4.122 ERROR: ResolutionImpossible: for help visit \
https://pip.pypa.io/en/latest/topics/dependency-resolution/#dealing-with-dependency-conflicts
------
Dockerfile:3
--------------------
   1 |     FROM python:3.11-slim
   2 |     COPY requirements.txt .
   3 | >>> RUN pip install -r requirements.txt
--------------------
ERROR: failed to solve: process "/bin/sh -c pip install -r requirements.txt" did not complete \
successfully: exit code: 1
"""


def test_resolution_conflict_evidence_names_the_conflicting_requirement():
    found = _classify(BK_RESOLUTION)
    assert found.failure_class == "dependency-resolution"
    assert found.evidence == "#7 4.121     torchvision 0.16.0 depends on torch==2.1.0"
    assert found.evidence_line == 9


def test_missing_version_evidence_names_the_package_and_its_versions_legacy():
    found = classify(BackendOutcome("legacy", error="x", exit_code=1), numbered(LEGACY),
                     timeout_s=60, stall_s=60, memory_limited=False)
    assert found.evidence == ("ERROR: Could not find a version that satisfies the requirement "
                              "six==99 (from versions: none)")
    assert found.evidence_line == 9


LEGACY_WHEEL = """\
Step 3/4 : COPY wheels/ /wheels/
 ---> 9b1c2d3e4f50
Step 4/4 : RUN pip install /wheels/flash_attn-2.5.6-cp311-cp311-linux_x86_64.whl
 ---> Running in 0a1b2c3d4e5f
ERROR: flash_attn-2.5.6-cp311-cp311-linux_x86_64.whl is not a supported wheel on this platform.

[notice] A new release of pip is available: 23.0.1 -> 24.0
[notice] To update, run: pip install --upgrade pip
The command '/bin/sh -c pip install /wheels/flash_attn-2.5.6-cp311-cp311-linux_x86_64.whl' \
returned a non-zero code: 1
"""


def test_unsupported_wheel_is_a_resolution_failure_naming_the_wheel():
    found = classify(BackendOutcome("legacy", exit_code=1), numbered(LEGACY_WHEEL),
                     timeout_s=60, stall_s=60, memory_limited=False)
    assert found.failure_class == "dependency-resolution"
    assert "flash_attn-2.5.6-cp311-cp311-linux_x86_64.whl is not a supported wheel" in (
        found.evidence)
    assert found.evidence_line == 5


BK_IMPORT = """\
#8 [4/5] RUN python -c "import app.server"
#8 0.401 Traceback (most recent call last):
#8 0.401   File "<string>", line 1, in <module>
#8 0.402   File "/srv/app/server.py", line 3, in <module>
#8 0.402     import sentencepiece
#8 0.402 ModuleNotFoundError: No module named 'sentencepiece'
#8 ERROR: process "/bin/sh -c python -c \\"import app.server\\"" did not complete \
successfully: exit code: 1
------
 > [4/5] RUN python -c "import app.server":
0.402   File "/srv/app/server.py", line 3, in <module>
0.402     import sentencepiece
0.402 ModuleNotFoundError: No module named 'sentencepiece'
------
ERROR: failed to solve: process "/bin/sh -c python -c \\"import app.server\\"" did not \
complete successfully: exit code: 1
"""


def test_command_failed_evidence_is_the_missing_module_buildkit():
    found = _classify(BK_IMPORT)
    assert (found.failure_class, found.exit_code) == ("command-failed", 1)
    assert found.evidence == "#8 0.402 ModuleNotFoundError: No module named 'sentencepiece'"
    assert found.evidence_line == 6


LEGACY_SCRIPT = """\
Step 5/6 : RUN ./scripts/download_weights.sh
 ---> Running in 5e6f7a8b9c0d
fetching shard 1/4
fetching shard 2/4
checksum mismatch for shard 2: expected 9f2c, got 00a1
Removing intermediate container 5e6f7a8b9c0d
The command '/bin/sh -c ./scripts/download_weights.sh' returned a non-zero code: 2
"""


def test_command_failed_evidence_is_the_commands_last_line_legacy():
    found = classify(BackendOutcome("legacy"), numbered(LEGACY_SCRIPT), timeout_s=60,
                     stall_s=60, memory_limited=False)
    assert (found.failure_class, found.exit_code) == ("command-failed", 2)
    assert found.evidence == "checksum mismatch for shard 2: expected 9f2c, got 00a1"
    assert found.evidence_line == 5


def test_command_failed_without_output_falls_back_to_the_exit_line():
    found = _classify(BUILDKIT)
    assert found.evidence == "executor failed running [/bin/sh -c exit 3]: exit code: 3"
    assert found.evidence_line == 10
