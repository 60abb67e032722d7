"""Requirements files: lines with spans, options, hashes, continuations, nested includes."""

from __future__ import annotations

from carpenter.model.requirements import follow, parse_requirements
from carpenter.model.source import SourceFile

TEXT = """\
# header comment
torch==2.1.0 \\
    --hash=sha256:aaaa \\
    --hash=sha256:bbbb
transformers>=4.34  # trailing comment
-r nested/more.txt
--extra-index-url https://download.pytorch.org/whl/cu121
-e git+https://github.com/a/b@main#egg=b
peft[torch] ; python_version > "3.8"
-c constraints.txt

accelerate
"""


def parsed():
    return parse_requirements(SourceFile("requirements.txt", TEXT))


def test_line_kinds_and_lines() -> None:
    lines = [(line.kind, line.line, line.end_line) for line in parsed().lines]
    assert lines[:3] == [("comment", 1, 1), ("requirement", 2, 4), ("requirement", 5, 5)]
    assert ("blank", 11, 11) in lines
    assert lines[-1] == ("requirement", 12, 12)


def test_hashes_make_a_requirement_pinned() -> None:
    torch = parsed().requirements[0].requirement
    assert torch.hashes == ("sha256:aaaa", "sha256:bbbb") and torch.pinned


def test_spans_and_specifier_offsets() -> None:
    req_file = parsed()
    transformers = req_file.requirements[1]
    text = req_file.source.text
    assert text[transformers.offset:transformers.end_offset] == "transformers>=4.34"
    assert text[transformers.spec_offset:transformers.spec_end_offset] == ">=4.34"
    accelerate = req_file.requirements[-1]
    assert accelerate.spec_offset == accelerate.spec_end_offset  # where `==X` would go


def test_options_and_includes() -> None:
    req_file = parsed()
    assert [(k, o.value) for k, o in req_file.includes] == [
        ("requirement", "nested/more.txt"), ("constraint", "constraints.txt")]
    assert req_file.options("--extra-index-url")[0].value == (
        "https://download.pytorch.org/whl/cu121")
    editable = [line for line in req_file.requirements if line.requirement.editable]
    assert editable and editable[0].requirement.kind == "vcs"


def test_comment_hash_needs_whitespace_before_it() -> None:
    req_file = parse_requirements(SourceFile("r.txt", "https://x/p-1.0.tar.gz#sha256=ab\n"))
    assert req_file.requirements[0].requirement.text == "https://x/p-1.0.tar.gz#sha256=ab"


def test_env_variables_expand_only_braced_upper_case() -> None:
    source = SourceFile("r.txt", "torch==${TORCH_VERSION}\npeft==$PEFT\n")
    req_file = parse_requirements(source, variables={"TORCH_VERSION": "2.1.0", "PEFT": "0.6.2"})
    torch, peft = (line.requirement for line in req_file.requirements)
    assert torch.pinned and torch.specifier == "==2.1.0"
    assert not peft.pinned  # pip does not expand $PEFT


def test_range_of_a_file_parses_a_heredoc() -> None:
    text = "FROM x\nCOPY <<EOF /r.txt\npeft\nEOF\n"
    source = SourceFile("Dockerfile", text)
    start = text.index("peft")
    req_file = parse_requirements(source, start, start + len("peft\n"))
    (line,) = req_file.requirements
    assert line.line == 3 and line.requirement.name == "peft"


def test_follow_nested_relative_and_cycles() -> None:
    files = {
        "requirements.txt": "-r sub/a.txt\n-c c.txt\nx\n",
        "sub/a.txt": "-r ../requirements.txt\n-r b.txt\ny\n",
        "sub/b.txt": "z\n",
        "c.txt": "-r c2.txt\nx==1\n",
        "c2.txt": "y==2\n",
    }

    def read(path: str):
        if path not in files:
            return None
        return parse_requirements(SourceFile(path, files[path]))

    found = follow("requirements.txt", "requirement", read)
    assert [(inc.file.rel or inc.file.source.path, inc.kind) for inc in found] == [
        ("requirements.txt", "requirement"), ("sub/a.txt", "requirement"),
        ("sub/b.txt", "requirement"), ("c.txt", "constraint"), ("c2.txt", "constraint"),
    ]
