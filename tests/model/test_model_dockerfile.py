"""The Dockerfile model reads files the way BuildKit does."""

from __future__ import annotations

from model_helpers import make

from carpenter.model.shell import scripts_of


def words_at(df, index: int) -> list[list[str]]:
    return [c.argv for s in scripts_of(df.instructions[index]) for c in s.commands]


def test_heredoc_dash_strips_tabs_and_keeps_file_offsets() -> None:
    df = make("FROM alpine\nRUN <<-EOT\n\tpip install peft\n\tEOT\nRUN echo after\n")
    run = df.instructions[1]
    assert len(run.heredocs) == 1 and run.heredocs[0].strip_tabs
    doc = run.heredocs[0]
    assert df.source.text[doc.offset:].startswith("\tpip install peft")
    assert words_at(df, 1) == [["pip", "install", "peft"]]
    assert df.instructions[2].keyword == "RUN" and df.instructions[2].start_line == 5


def test_several_heredocs_in_one_instruction() -> None:
    df = make("""
        FROM alpine
        RUN <<A cat > /a && cat <<B > /b
        one
        A
        two
        B
        RUN echo next
    """)
    run = df.instructions[1]
    assert [h.name for h in run.heredocs] == ["A", "B"]
    assert [h.line for h in run.heredocs] == [3, 5]
    assert df.instructions[2].start_line == 7


def test_copy_heredoc_followed_directly_by_run() -> None:
    df = make("FROM alpine\nCOPY <<EOF /app/requirements.txt\npeft\nEOF\n"
              "RUN pip install -r /app/requirements.txt\n")
    assert [i.keyword for i in df.instructions] == ["FROM", "COPY", "RUN"]
    assert df.instructions[1].heredocs[0].body == "peft\n"
    assert not df.problems


def test_escape_directive_backtick() -> None:
    df = make("# escape=`\nFROM alpine\nRUN pip install `\n    torch==2.1.0 `\n    peft\n")
    assert df.escape == "`"
    cmd = scripts_of(df.instructions[1])[0].commands[0]
    assert cmd.argv == ["pip", "install", "torch==2.1.0", "peft"]
    peft = cmd.words[-1]
    assert df.source.position(peft.offset) == (5, 5)


def test_continuation_with_comment_and_blank_lines() -> None:
    df = make("""
        FROM alpine
        RUN pip install \\
        # a comment inside the continuation

            torch==2.1.0 \\
            peft==0.6.2
        RUN echo done
    """)
    assert words_at(df, 1) == [["pip", "install", "torch==2.1.0", "peft==0.6.2"]]
    words = scripts_of(df.instructions[1])[0].commands[0].words
    assert df.source.position(words[2].offset)[0] == 5
    assert df.instructions[2].start_line == 7


def test_json_and_shell_forms() -> None:
    df = make('FROM alpine\nCMD ["python", "serve.py"]\nCMD python serve.py\nCMD [\'python\']\n')
    assert df.instructions[1].json_args == ["python", "serve.py"]
    assert df.instructions[2].json_args is None
    assert df.instructions[3].json_args is None  # not JSON: Docker runs it as shell form


def test_arg_before_from_and_default_expansion() -> None:
    df = make("""
        ARG BASE=nvidia/cuda
        ARG TAG=12.1.0-devel-ubuntu22.04
        FROM ${BASE}:${TAG}
        FROM ${MISSING:-python:3.10}
        ARG UNSET
        FROM ${UNSET}
    """)
    assert df.stages[0].base == "nvidia/cuda:12.1.0-devel-ubuntu22.04"
    assert df.stages[1].base == "python:3.10"
    assert df.stages[2].base is None


def test_build_arg_overrides_default() -> None:
    df = make("ARG BASE=python:3.10\nFROM $BASE\n", {"BASE": "python:3.11-slim"})
    assert df.stages[0].base == "python:3.11-slim"


def test_stage_scoping_of_args() -> None:
    df = make("""
        ARG V=1
        FROM alpine AS a
        RUN echo $V
        ARG V
        RUN echo $V
        ARG W=2
        FROM alpine AS b
        RUN echo $W
    """)
    first_run, second_run = df.instructions[2], df.instructions[4]
    assert "V" not in first_run.vars  # a global ARG is not visible until redeclared
    assert second_run.vars["V"] == "1"
    assert "W" not in df.instructions[7].vars  # stage ARGs end with their stage


def test_env_values_are_visible_and_expanded() -> None:
    df = make("FROM alpine\nARG A=x\nENV B=${A}-y C=\"two words\"\nRUN echo\n")
    assert df.instructions[3].vars["B"] == "x-y"
    assert df.instructions[3].vars["C"] == "two words"


def test_multistage_stage_references() -> None:
    df = make("""
        FROM python:3.10 AS builder
        WORKDIR /build
        FROM builder AS test
        FROM python:3.10-slim
        COPY --from=builder /build /app
    """)
    assert [s.name for s in df.stages] == ["builder", "test", None]
    assert df.stages[1].is_stage_ref and df.stages[1].parent is df.stages[0]
    assert not df.stages[2].is_stage_ref
    assert df.instructions[-1].flags["from"] == "builder"


def test_parse_error_keeps_other_instructions() -> None:
    df = make("FROM alpine\nRUN pip install peft\n    pip install torch\nRUN echo ok\n")
    keywords = [i.keyword for i in df.instructions]
    assert keywords[0] == "FROM" and keywords[-1] == "RUN"
    assert "PIP" in keywords  # the line that lost its RUN is kept as an unknown instruction


def test_shell_parses_nested_scripts() -> None:
    df = make("FROM alpine\nRUN sh -c \"pip install einops && echo ok\" && x=$(pip --version)\n")
    commands = words_at(df, 1)
    assert ["pip", "install", "einops"] in commands
    assert ["pip", "--version"] in commands
