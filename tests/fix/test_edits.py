"""Edits on spans and requirement rewriting, without a Dockerfile."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carpenter.fix.edits import (
    Edit,
    OverlapError,
    apply_edits,
    compose,
    normalize,
    unified_diff,
)
from carpenter.fix.pipreq import pin_text, requirement_extent, unquoted_word_end


def test_edits_apply_back_to_front():
    text = "0123456789"
    assert apply_edits(text, [Edit(8, 9, "X"), Edit(1, 3, ""), Edit(5, 5, "+")]) == "034+567X9"


def test_identical_edits_are_merged_and_overlaps_rejected():
    assert normalize([Edit(1, 2, "a"), Edit(1, 2, "a")]) == [Edit(1, 2, "a")]
    with pytest.raises(OverlapError):
        normalize([Edit(1, 4, "a"), Edit(3, 5, "b")])
    with pytest.raises(OverlapError):
        normalize([Edit(2, 2, "a"), Edit(2, 2, "b")])  # two insertions at one point
    with pytest.raises(OverlapError):
        normalize([Edit(0, 10, "a"), Edit(4, 4, "b")])  # insertion inside a replacement
    # touching ranges and an insertion at a boundary are fine
    assert apply_edits("abcdef", [Edit(0, 2, "X"), Edit(2, 4, "Y"), Edit(4, 4, "+")]) == "XY+ef"


def test_bad_spans_are_refused():
    with pytest.raises(ValueError):
        Edit(3, 2, "x")
    with pytest.raises(ValueError):
        apply_edits("abc", [Edit(2, 9, "x")])


@given(st.text(max_size=60), st.lists(st.tuples(st.integers(0, 60), st.integers(0, 8),
                                                st.text(max_size=5)), max_size=6))
def test_non_overlapping_edits_equal_sequential_application(text, raw):
    edits, taken = [], []
    for start, length, repl in raw:
        start = min(start, len(text))
        edit = Edit(start, min(len(text), start + length), repl)
        if all(edit.end_offset <= o.offset or o.end_offset <= edit.offset for o in taken) \
                and all(edit.offset != o.offset for o in taken):
            edits.append(edit)
            taken.append(edit)
    expected = text
    for edit in sorted(edits, reverse=True):
        expected = expected[:edit.offset] + edit.replacement + expected[edit.end_offset:]
    assert apply_edits(text, edits) == expected


@pytest.mark.parametrize("before,after", [
    ("torch", "torch==2.1.0"),
    ("torch>=2.0", "torch==2.1.0"),
    ('"torch>=2.0"', '"torch==2.1.0"'),
    ("'torch<3'", "'torch==2.1.0'"),
    ("Torch[cuda,extra]~=2.0", "Torch[cuda,extra]==2.1.0"),
    ('torch>=2 ; python_version < "3.12"', 'torch==2.1.0 ; python_version < "3.12"'),
    ('torch; sys_platform == "linux"', 'torch==2.1.0; sys_platform == "linux"'),
    ("torch (>=2.0)", "torch==2.1.0"),
])
def test_pin_text_changes_only_the_specifier(before, after):
    pinned = pin_text(before, "2.1.0")
    assert pinned is not None and pinned.text == after and pinned.name == "torch"


@pytest.mark.parametrize("text", ["torch @ https://x/torch.whl", "-r req.txt", "./local", ""])
def test_pin_text_leaves_non_requirements_alone(text):
    assert pin_text(text, "1.0") is None


@pytest.mark.parametrize("line,req", [
    ("torch>=2.0  # comment", "torch>=2.0"),
    ("torch==2.1.0 --hash=sha256:ab \\", "torch==2.1.0"),
    ('  peft ; python_version>"3" --no-binary :all:', 'peft ; python_version>"3"'),
    ("datasets", "datasets"),
])
def test_requirement_extent_skips_options_comments_continuations(line, req):
    start, end = requirement_extent(line)
    assert line[start:end] == req


def test_unquoted_word_end_counts_the_broken_redirect():
    text = "pip install torch>=2.0.1 'a b'&& echo"
    assert text[12:unquoted_word_end(text, 12)] == "torch>=2.0.1"
    assert text[25:unquoted_word_end(text, 25)] == "'a b'"


def test_unified_diff_marks_new_files_and_missing_newlines():
    assert unified_diff("x", "", "a\n", new_file=True).startswith("--- /dev/null\n+++ b/x")
    assert "No newline at end of file" in unified_diff("x", "a", "b")


def test_compose_puts_a_prepended_command_before_an_assignment_prefix():
    text = "RUN pip install flash-attn\n"
    export = Edit(4, 4, 'export HF_TOKEN="$(cat /run/secrets/hf_token)" && ')
    max_jobs = Edit(4, 4, "MAX_JOBS=4 ")
    want = 'RUN export HF_TOKEN="$(cat /run/secrets/hf_token)" && MAX_JOBS=4 pip install'
    for a, b in ((export, max_jobs), (max_jobs, export)):
        composed = compose(a, b)
        assert composed is not None
        assert apply_edits(text, [composed]).startswith(want)


def test_compose_refuses_when_the_order_is_unclear():
    assert compose(Edit(4, 4, "A=1 "), Edit(4, 4, "B=2 ")) is None  # two prefixes
    assert compose(Edit(4, 4, "a && "), Edit(4, 4, "b && ")) is None  # two commands
    assert compose(Edit(4, 4, "a && "), Edit(5, 5, "B=2 ")) is None  # not one point
    assert compose(Edit(4, 6, "a && "), Edit(4, 4, "B=2 ")) is None  # not insertions
