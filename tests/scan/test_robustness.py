"""Hostile input: every case ends in a located error or finding and an exit code, never a traceback.

The CLI runs as a real subprocess (`python -m carpenter.cli`), as a user would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carpenter.cli import main
from carpenter.model.dockerfile import parse_dockerfile
from carpenter.model.source import MAX_BYTES, SourceFile
from carpenter.scan.engine import ScanOptions, scan_dockerfile

ROOT = Path(__file__).resolve().parents[2]
ML_DOCKERFILE = """\
# syntax=docker/dockerfile:1.6
ARG BASE=nvidia/cuda:12.1.1-cudnn8-devel-ubuntu22.04
FROM ${BASE} AS build
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends \\
        git=1:2.34.1-1ubuntu1.10 python3-pip \\
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /app/requirements.txt
WORKDIR /app
RUN pip install -r requirements.txt "transformers>=4.36" torch==2.1.2 \\
    && MAX_JOBS=4 pip install flash-attn --no-build-isolation
RUN <<EOF
set -e
git clone https://github.com/huggingface/peft && cd peft && git checkout v0.7.1
pip install -e .
EOF
FROM build AS serve
COPY --from=build /app /app
EXPOSE 8000
CMD ["python3", "-m", "vllm.entrypoints.openai.api_server", "--port", "8000"]
"""


def cli(*args: str, cwd: Path) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "carpenter.cli", *args], cwd=cwd, capture_output=True,
        text=True, timeout=300, env={**os.environ, "NO_COLOR": "1"},
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output[-3000:]
    assert "internal error" not in output, output[-3000:]
    return result.returncode, output


def scan_json(target: str, cwd: Path, *extra: str) -> tuple[int, dict]:
    code, _ = cli("scan", target, "--format", "json", "-o", "out.json", *extra, cwd=cwd)
    return code, json.loads((cwd / "out.json").read_text())


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    (tmp_path / "d").mkdir()
    return tmp_path


def dockerfile(work: Path, data: bytes | str) -> Path:
    path = work / "d" / "Dockerfile"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    (work / "d" / "requirements.txt").write_text("numpy==1.26.4\n")
    return path


def only_error(report: dict) -> dict:
    assert len(report["errors"]) == 1, report["errors"]
    return report["errors"][0]


def test_binary_file(work: Path) -> None:
    dockerfile(work, b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8)
    code, report = scan_json("d/Dockerfile", work)
    assert code == 2
    assert only_error(report) == {"path": "d/Dockerfile", "line": None,
                                  "message": "binary file (contains NUL bytes), not a Dockerfile"}


def test_non_utf8_is_scanned_with_replacement(work: Path) -> None:
    dockerfile(work, "FROM python:3.11\n# caf\xe9 na\xefve\nRUN apt-get update\n    pip install x\n"
               .encode("latin-1"))
    code, report = scan_json("d", work, "--select", "DF")
    assert code == 1
    assert report["errors"] == []
    assert [(f["rule"], f["line"], f["column"]) for f in report["findings"]] == [("DF002", 4, 5)]


def test_crlf_keeps_lines_and_columns(work: Path) -> None:
    text = "FROM python:3.11\nRUN apt-get update\n    pip install x\n"
    dockerfile(work, text.replace("\n", "\r\n"))
    code, report = scan_json("d", work, "--select", "DF")
    assert code == 1
    [finding] = report["findings"]
    assert (finding["line"], finding["column"], finding["end_column"]) == (3, 5, 8)


def test_ten_megabyte_dockerfile(work: Path) -> None:
    head = ML_DOCKERFILE
    # Realistic bulk: a vendored changelog pasted as comments (10 MB, 132,000 lines).
    filler = "".join(
        f"# {i:06d} pinned transformers==4.36.{i % 9} accelerate==0.25.0 for run {i} of 132000\n"
        for i in range(132_000)
    )
    tail = "RUN apt-get update\n    pip install x\n"
    path = dockerfile(work, head + filler + tail)
    assert path.stat().st_size >= 10 * 1024 * 1024
    code, report = scan_json("d", work)
    assert code == 1
    assert report["errors"] == []
    df002 = [f for f in report["findings"] if f["rule"] == "DF002"]
    assert df002 and df002[0]["line"] == head.count("\n") + 132_000 + 2


def test_too_large_file_is_refused_without_reading_it(work: Path) -> None:
    path = dockerfile(work, b"")
    with open(path, "r+b") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: costs no disk
    code, report = scan_json("d", work)
    assert code == 2
    assert "too large" in only_error(report)["message"]


def test_ten_thousand_continuation_lines(work: Path) -> None:
    lines = ["FROM python:3.11", "RUN pip install \\"]
    lines += [f"    pkg{i}==1.0.{i} \\" for i in range(10_000)]
    lines += ["    torch", 'CMD ["python"]']
    dockerfile(work, "\n".join(lines) + "\n")
    code, report = scan_json("d", work)
    assert code in (0, 1)
    assert report["errors"] == []
    # If a pip rule is present, the one unpinned package is found on its physical line.
    for finding in report["findings"]:
        if finding["category"] == "unpinned-pip" and "torch" in finding["message"]:
            assert finding["line"] == 10_003


def test_empty_and_blank_files_are_findings(work: Path) -> None:
    for text in ("", "\n\n   \n# only a comment\n"):
        dockerfile(work, text)
        code, report = scan_json("d", work)
        assert code == 1
        assert [f["rule"] for f in report["findings"]] == ["DF001"]
        assert report["findings"][0]["line"] == 1


def test_unreadable_file(work: Path) -> None:
    path = work / "d" / "Dockerfile"
    if os.geteuid() != 0:
        path.write_text("FROM python:3.11\n")
        path.chmod(0)
    else:
        # root ignores file modes; a write-only sysctl refuses reads even to root (EACCES).
        target = Path("/proc/sys/vm/drop_caches")
        try:
            target.open("rb").close()
            pytest.skip("no file on this machine refuses reads to root")
        except PermissionError:
            pass
        except OSError:
            pytest.skip("/proc/sys/vm/drop_caches unavailable")
        path.symlink_to(target)
    (work / "e").mkdir()
    (work / "e" / "Dockerfile").write_text("FROM python:3.11\nRUN apt-get update\n  pip x\n")
    code, report = scan_json(".", work, "--select", "DF")
    assert code == 2
    assert only_error(report) == {"path": "d/Dockerfile", "line": None,
                                  "message": "permission denied"}
    assert [f["path"] for f in report["findings"]] == ["e/Dockerfile"]  # the rest is reported


def test_fifo_and_directory_named_dockerfile(work: Path) -> None:
    os.mkfifo(work / "d" / "Dockerfile")  # opening it for reading would block forever
    (work / "e" / "Dockerfile").mkdir(parents=True)
    code, report = scan_json("d/Dockerfile", work)
    assert code == 2
    assert "not a regular file" in only_error(report)["message"]
    code, report = scan_json("e/Dockerfile", work)
    assert code == 2
    assert "no Dockerfile found" in only_error(report)["message"]


def test_broken_symlink(work: Path) -> None:
    (work / "d" / "Dockerfile").symlink_to(work / "gone")
    for target in ("d", "d/Dockerfile"):
        code, report = scan_json(target, work)
        assert code == 2
        assert only_error(report)["message"] == "broken symbolic link"


def test_symlink_loops(work: Path) -> None:
    (work / "d" / "Dockerfile").symlink_to("Dockerfile")  # a file that points at itself
    code, report = scan_json("d/Dockerfile", work)
    assert code == 2
    assert "symbolic links" in only_error(report)["message"]
    loop = work / "l" / "a"
    loop.mkdir(parents=True)
    (loop / "Dockerfile").write_text("FROM scratch\n")
    (loop / "up").symlink_to("..")  # a folder loop: l/a/up -> l
    code, report = scan_json("l", work)
    assert code == 2
    assert report["files"] == ["l/a/Dockerfile"]
    assert "loop" in only_error(report)["message"]


def test_text_format_on_hostile_inputs(work: Path) -> None:
    dockerfile(work, "FROM python\n\x1b[31mRUN [not json\n\t\tpip install \xff\n")
    code, out = cli("scan", "d", cwd=work)
    assert code == 1
    assert "\x1b" not in out  # no escape sequence from the file reaches the terminal
    assert "\u241b[31mRUN [not json" in out


# ---------------------------------------------------------------------------------------------
# Property test: mutated fixtures never make scan_dockerfile raise, and the CLI exits 0/1/2.


def _seeds() -> list[str]:
    seeds = [ML_DOCKERFILE]
    for path in sorted((ROOT / "fixtures" / "submissions").glob("*/Dockerfile"))[:40]:
        try:
            seeds.append(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return seeds


SEEDS = _seeds()
PIECES = ["\\\n", "<<EOF\n", "EOF\n", "\n", "'", '"', "$(", ")", "${", "}", "&&", "|", "#",
          "[", "]", "--mount=type=cache,target=/x ", "FROM ", "RUN ", "COPY --from=0 ", "\t",
          "ARG X=${Y:-z}\n", "# escape=`\n", "\r", "\x00", "\ufeff", "pip install ", "==",
          "git+https://x/y@", "\\", "`", "AS ", "ONBUILD ", "<<-'E'\n"]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        lines = text.split("\n")
        op = draw(st.sampled_from(["insert", "delete", "duplicate", "line-delete",
                                   "line-duplicate", "line-swap", "random"]))
        at = draw(st.integers(0, max(len(text), 1)))
        if op == "insert":
            text = text[:at] + draw(st.sampled_from(PIECES)) + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif op == "duplicate":
            text = text[:at] + text[at : at + draw(st.integers(1, 60))] + text[at:]
        elif op == "random":
            text = text[:at] + draw(st.text(max_size=20)) + text[at:]
        else:
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if op == "line-delete":
                del lines[i]
            elif op == "line-duplicate":
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text


FUZZ_EXAMPLES = int(os.environ.get("CARPENTER_FUZZ_EXAMPLES", "150"))  # raise for a long hunt


@settings(max_examples=FUZZ_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated())
def test_mutated_dockerfiles_never_raise(text: str, tmp_path_factory) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "requirements.txt").write_text("numpy\ntorch==2.1.2\n")
    source = SourceFile(str(folder / "Dockerfile"), text.replace("\r\n", "\n"))
    dockerfile = parse_dockerfile(source, {"X": "1"})
    result = scan_dockerfile(dockerfile, ScanOptions(), str(folder))
    internal = [e for e in result.errors if "internal error" in e.message]
    assert not internal, (internal, text)


@settings(max_examples=max(25, FUZZ_EXAMPLES // 6), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400) | mutated().map(str.encode))
def test_cli_exit_codes_on_random_bytes(data: bytes, tmp_path_factory, capsys) -> None:
    folder = tmp_path_factory.mktemp("cli")
    (folder / "Dockerfile").write_bytes(data)
    for fmt in ("json", "text"):
        with pytest.raises(SystemExit) as exit_info:
            main(["scan", str(folder), "--format", fmt])
        out, err = capsys.readouterr()
        assert exit_info.value.code in (0, 1, 2), err
        assert "internal error" not in out + err
