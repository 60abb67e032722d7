"""Mapping in-image paths back to build-context files through COPY/ADD/WORKDIR/cd."""

from __future__ import annotations

from model_helpers import make

from carpenter.model.copies import context_source, copies_before, cwd_for, workdir_at
from carpenter.model.shell import scripts_of


def source_of(text: str, path: str, is_dir=None):
    df = make(text)
    inst = df.instructions[-1]
    found = context_source(inst, path, is_dir=is_dir)
    return found.rel if found and found.heredoc is None else found


def test_copy_dot_dot_after_workdir() -> None:
    text = "FROM x\nWORKDIR /app\nCOPY . .\nRUN true\n"
    assert source_of(text, "requirements.txt") == "requirements.txt"
    assert source_of(text, "/app/sub/r.txt") == "sub/r.txt"
    assert source_of(text, "/etc/r.txt") is None


def test_file_into_directory_with_and_without_trailing_slash() -> None:
    text = "FROM x\nWORKDIR /app\nCOPY reqs/gpu.txt /deps/\nCOPY reqs/cpu.txt /app\nRUN true\n"
    assert source_of(text, "/deps/gpu.txt") == "reqs/gpu.txt"
    assert source_of(text, "cpu.txt") == "reqs/cpu.txt"  # /app exists (WORKDIR): a folder


def test_file_renamed_by_copy() -> None:
    text = "FROM x\nCOPY deps/c.txt /opt/constraints.txt\nRUN true\n"
    assert source_of(text, "/opt/constraints.txt") == "deps/c.txt"


def test_directory_source_and_relative_destination() -> None:
    text = "FROM x\nWORKDIR /build\nCOPY requirements/ ./reqs/\nRUN true\n"
    is_dir = lambda rel: rel == "requirements"  # noqa: E731
    assert source_of(text, "reqs/prod.txt", is_dir) == "requirements/prod.txt"


def test_multiple_sources_and_globs() -> None:
    text = "FROM x\nCOPY a.txt b.txt /r/\nCOPY req*.txt /g/\nRUN true\n"
    assert source_of(text, "/r/b.txt") == "b.txt"
    assert source_of(text, "/g/requirements.txt") == "requirements.txt"


def test_later_copy_wins_and_copy_from_is_not_the_context() -> None:
    text = ("FROM x AS b\nFROM x\nCOPY old.txt /r.txt\nCOPY new.txt /r.txt\n"
            "COPY --from=b /r2.txt /r2.txt\nRUN true\n")
    assert source_of(text, "/r.txt") == "new.txt"
    assert source_of(text, "/r2.txt") is None


def test_copy_after_the_instruction_does_not_count() -> None:
    df = make("FROM x\nRUN true\nCOPY r.txt /r.txt\n")
    assert context_source(df.instructions[1], "/r.txt") is None


def test_heredoc_copy() -> None:
    found = source_of("FROM x\nCOPY <<EOF /app/r.txt\npeft\nEOF\nRUN true\n", "/app/r.txt")
    assert found is not None and found.heredoc is not None and found.heredoc.body == "peft\n"


def test_bind_mount_of_the_context() -> None:
    text = ("FROM x\nRUN --mount=type=bind,source=reqs/r.txt,target=/tmp/r.txt "
            "pip install -r /tmp/r.txt\n")
    assert source_of(text, "/tmp/r.txt") == "reqs/r.txt"
    text = "FROM x\nRUN --mount=type=bind,from=img,source=r.txt,target=/tmp/r.txt true\n"
    assert source_of(text, "/tmp/r.txt") is None


def test_variables_in_copy_and_workdir() -> None:
    text = "FROM x\nARG APP=/srv\nWORKDIR ${APP}\nCOPY . $APP/\nRUN true\n"
    assert source_of(text, "r.txt") == "r.txt"


def test_workdir_relative_chain_and_inherited_stage() -> None:
    df = make("FROM x AS base\nWORKDIR /a\nWORKDIR b\nCOPY . .\nFROM base\nRUN true\n")
    run = df.instructions[-1]
    assert workdir_at(run) == "/a/b"
    assert len(copies_before(run)) == 1
    assert context_source(run, "r.txt").rel == "r.txt"


def test_cd_earlier_in_the_same_run() -> None:
    df = make("FROM x\nWORKDIR /app\nRUN cd /tmp && cd sub && pip install -r r.txt\n")
    run = df.instructions[-1]
    pip = scripts_of(run)[0].commands[-1]
    assert cwd_for(run, pip) == "/tmp/sub"
    assert cwd_for(run, scripts_of(run)[0].commands[0]) == "/app"
