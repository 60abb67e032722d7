"""Property-based: over generated Dockerfiles, fix is idempotent, leaves no fixed finding
behind, and leaves instructions without findings byte-identical."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from carpenter.model.dockerfile import parse_dockerfile
from carpenter.model.source import SourceFile

from .helpers import SECRET, apply, bundled, fix_dir, scan

SNAP = bundled()
KNOWN = ["torch", "transformers", "peft", "accelerate", "datasets", "einops", "scipy",
         "sentencepiece", "safetensors", "trl", "numpy", "Flash_Attn", "PyYAML"]
IMAGES = ["python:3.10-slim", "nvidia/cuda:12.1.0-devel-ubuntu22.04", "ubuntu:22.04",
          "debian:bookworm", "pytorch/pytorch:2.1.0-cuda11.8-cudnn8-runtime"]

names = st.sampled_from([*KNOWN, "no-such-pkg-xyz", "left_pad2"])
specs = st.sampled_from(["", ">=1.0", "==0.0.1", "~=0.1", "<999", ">=0.1,<999", "==1.*"])


@st.composite
def requirement(draw) -> str:
    name = draw(names)
    extras = draw(st.sampled_from(["", "[dev]", "[a,b]"]))
    spec = draw(specs)
    quote = draw(st.sampled_from(["", '"', "'"]))
    marker = draw(st.sampled_from(["", "; python_version >= '3.8'"])) if quote == '"' else ""
    if quote == "" and ("," in spec or "<" in spec):
        spec = ""  # `<` unquoted reads a file: keep generated lines runnable
    return f"{quote}{name}{extras}{spec}{marker}{quote}"


@st.composite
def run_pip(draw) -> str:
    reqs = draw(st.lists(requirement(), min_size=1, max_size=4))
    flags = draw(st.sampled_from(["", "--no-cache-dir ", "-U ", "--no-cache-dir -q "]))
    tool = draw(st.sampled_from(["pip install", "pip3 install", "python3 -m pip install"]))
    if draw(st.booleans()) and len(reqs) > 1:
        return f"RUN {tool} {flags}{reqs[0]} \\\n    " + " ".join(reqs[1:])
    return f"RUN {tool} {flags}" + " ".join(reqs)


other = st.sampled_from([
    f"ENV HF_TOKEN={SECRET}", f"ARG WANDB_KEY=1 HF_TOKEN={SECRET}",
    "RUN python -c 'print(1)'",
    "WORKDIR /app", "ENV PYTHONUNBUFFERED=1", "LABEL a=b \\\n      c=d", "# a comment",
    "COPY . /app", "RUN echo hello && ls -la", "CMD [\"python\", \"serve.py\"]",
    "RUN apt-get update && apt-get install -y --no-install-recommends git curl",
    "EXPOSE 8000", "USER 1000",
    "RUN git clone --depth 1 https://github.com/huggingface/peft /peft",
    "RUN <<EOF\npip install einops\necho done\nEOF",
    "FROM nvidia/cuda:12.1.0-devel-ubuntu22.04 AS second",
    "COPY requirements.txt /r.txt\nRUN pip install -r /r.txt",
])
req_line = st.one_of(requirement().map(lambda r: r.strip("'\"")),
                     st.sampled_from(["# comment", "", "--index-url https://pypi.org/simple",
                                      "torch==2.1.0 --hash=sha256:" + "a" * 64]))


@st.composite
def dockerfile(draw) -> str:
    lines = [f"FROM {draw(st.sampled_from(IMAGES))}"]
    lines += draw(st.lists(st.one_of(run_pip(), other), min_size=1, max_size=7))
    return "\n".join(lines) + "\n"


def _instruction_texts(text: str) -> list[str]:
    df = parse_dockerfile(SourceFile("Dockerfile", text))
    return [text[i.offset:i.end_offset] for i in df.instructions]


def _is_subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


@example(  # the torch in place when the extension builds is the one before it, not a later one
    "FROM python:3.10-slim\nRUN pip install torch Flash_Attn\nRUN pip install torch==0.0.1\n", [])
@example(  # a secret's export and CUDA's MAX_JOBS land before one command: both apply at once
    f"FROM pytorch/pytorch:2.1.0-cuda11.8-cudnn8-runtime\nENV HF_TOKEN={SECRET}\n"
    "RUN python3 -m pip install Flash_Attn\n", [])
@settings(max_examples=int(os.environ.get("CARPENTER_FUZZ_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(dockerfile(), st.lists(req_line, max_size=5))
def test_fix_is_idempotent_complete_and_local(text, requirements):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "Dockerfile").write_text(text)
        (root / "requirements.txt").write_text("\n".join(requirements) + "\n")
        before = scan(root)
        touched = {f.offset for f in before if f.path.endswith("Dockerfile")}
        report = fix_dir(root, SNAP)
        assert not report.errors
        apply(report)
        fixed_text = (root / "Dockerfile").read_text()
        after = scan(root)
        # nothing fix applied is still reported
        # (same message twice = two findings: count them)
        applied = Counter((r.rule, r.message) for r in report.applied)
        was = Counter((f.rule, f.message) for f in before)
        now = Counter((f.rule, f.message) for f in after)
        assert all(now[key] <= was[key] - n for key, n in applied.items()), (applied, now)
        # a second run changes nothing
        assert [f for f in fix_dir(root, SNAP).files if f.changed] == []
        # instructions without findings are byte-identical and keep their order
        df = parse_dockerfile(SourceFile("Dockerfile", text))
        # By design the secret fix also edits the RUNs after the secret (secret mounts);
        # every other instruction without a finding must not change.
        first_secret = min((f.offset for f in before if f.category == "secret"),
                           default=len(text))
        untouched = [text[i.offset:i.end_offset] for i in df.instructions
                     if not any(i.offset <= o < max(i.end_offset, i.offset + 1)
                                for o in touched)
                     and not (i.keyword == "RUN" and i.offset > first_secret)]
        assert SECRET not in fixed_text
        assert _is_subsequence(untouched, _instruction_texts(fixed_text))


def test_a_cuda_wheel_next_to_another_stages_torch_pin_is_fixed_once(tmp_path):
    # Found by this property test: the wheel fix read `torch==0.0.1` of the FIRST stage for
    # the second one, so only a second run (after the closure pinned torch) chose the wheel;
    # and the lock of a stage that never installs flash-attn dropped its pin only while the
    # other stage still built it.
    text = ("FROM debian:bookworm\nRUN pip install sentencepiece>=1.0 torch==0.0.1\n"
            "FROM nvidia/cuda:12.1.0-devel-ubuntu22.04 AS second\n"
            "RUN pip install torch>=1.0 safetensors>=1.0 Flash_Attn scipy==0.0.1\n")
    (tmp_path / "Dockerfile").write_text(text)
    report = fix_dir(tmp_path, SNAP)
    assert not report.errors
    apply(report)
    assert "flash_attn-2.3.3+cu121torch2.1" in (tmp_path / "Dockerfile").read_text()
    assert [f.path for f in fix_dir(tmp_path, SNAP).files if f.changed] == []
