"""tree-sitter-bash and bashlex give the same relative commands (differential test).

The tree-sitter backend is the default because it is ~9x faster; bashlex stays the reference
and the fallback for scripts tree-sitter marks as errors. Every script of every fixture must
give identical commands from both, and the cases where they differ are listed below with the
reason bashlex is wrong.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from carpenter.model import shell
from carpenter.model.dockerfile import load_dockerfile
from carpenter.model.shell import _parse_bashlex, _parse_cached, _parse_tree_sitter, scripts_of

ROOT = Path(__file__).resolve().parents[2]


def _fixture_scripts() -> list[str]:
    texts: set[str] = set()
    for folder in (ROOT / "fixtures", ROOT / "tests" / "scan" / "rules" / "cases"):
        for path in sorted(folder.rglob("Dockerfile*")):
            if not path.is_file():
                continue
            for inst in load_dockerfile(str(path)).instructions:
                texts.update(
                    s.text for s in scripts_of(inst)
                    if s.kind == "shell" and s.via != "exec" and s.text.strip()
                )
    return sorted(texts)


def test_every_fixture_script_gives_the_same_commands() -> None:
    scripts = _fixture_scripts()
    assert len(scripts) > 150
    compared = 0
    for text in scripts:
        expected, problem = _parse_bashlex(text)
        got = _parse_tree_sitter(text)
        if got is None:
            continue  # tree-sitter sees an error: bashlex reads it (as today)
        assert problem is None, f"tree-sitter accepts what bashlex rejects: {text!r}"
        assert got == expected, text
        compared += 1
    assert compared > 150


# Scripts outside the fixtures that exercise the mapping (redirect placement, nesting,
# quoting, declarations, `[`, non-ASCII positions).
SAME = [
    "export PATH=/x:$PATH A; local b; unset -f c",
    'export A=1 B="x y"; declare -x C=2',
    "A=1 B=2",
    "A=1",
    'A=1 B=$(cat f) cmd --x=$(ls "a b")',
    "a | b > f",
    "a && b > f || c 2> e",
    "x 2>&1 | tee log",
    "a > f | b > g && c",
    "! a | b > f",
    "echo x > f y 2>&1 z",
    "> f echo a",
    "> f",
    "cmd 2>&- >&file &>>x >|y <&0 >1",
    'while read l; do echo "$l"; done < f',
    "f() { echo hi; } > /x",
    "(cd /x && make) && { echo ok; }",
    "if [ -f x ]; then a; elif b; then c; else d; fi",
    '[ -f "$x" ] && test -d y || [ "$a" != b ]',
    '[ ! -f x ] || [ -z "$(ls)" ]',
    "for f in a \"b c\" `ls`; do rm -rf \"$f\"; done",
    'x=$(ls "a b") && echo "$(cat "a b")" `echo hi`',
    'echo "a${x}b$(ls)c" ${y} $z ${x:-"a b"}',
    "cat < <(ls) > >(tee x)",
    "echo $(echo $(date)) `echo a` \"`echo b`\"",
    "echo 'a'b\"c\"\\d e\\ f \\\"x\\\" \"a'b\" 'c\"d' \"\\\\\" \"\\`\" \"a\\$b\"",
    "echo é \"ü\" && ls 'ö' && echo \"ü$(echo ä)ö\" `echo é`",
    "echo 日本語 && cat 'ファイル' > \"出力\"",
    "nohup python serve.py > /var/log/s.log 2>&1 &",
    "echo a;echo b&&echo c||echo d|cat",
    "ls # comment && rm",
    'read -r a <<< "$x"',
    "cat <<EOF > /x\nhello\nEOF\necho done",
    "for x in a b\ndo\n echo $x\ndone",
]


@pytest.mark.parametrize("text", SAME)
def test_backends_agree(text: str) -> None:
    expected, problem = _parse_bashlex(text)
    assert problem is None
    assert _parse_tree_sitter(text) == expected


# Where the two differ, bash agrees with tree-sitter: (script, index of the command, what
# bashlex gives, what tree-sitter gives - the part of the command that differs).
BASHLEX_BUGS = [
    # Inside double quotes a backslash only escapes $ ` " \ and newline; bashlex drops all.
    ('echo "a\\b" "\\033[7m"', 0, ("ab", "033[7m"), ("a\\b", "\\033[7m")),
    # Inside single quotes nothing is special; bashlex drops backslashes there too.
    ("echo x='\\(a\\)'", 0, ("x=(a)",), ("x=\\(a\\)",)),
    # A single quote inside double quotes is a plain character unless the word starts with `"`.
    ('echo a"it\'s"', 0, ("aits",), ("ait's",)),
    # A word that starts and ends with `'` is returned whole by bashlex, inner quotes kept.
    ("sed -e '/^'\"$S\"'$/d'", 0, ("-e", "/^'\"$S\"'$/d"), ("-e", "/^$S$/d")),
    # ANSI-C quoting: bashlex keeps the `$` and drops the backslash.
    ("echo $'a\\tb'", 0, ("$atb",), ("a\tb",)),
]


@pytest.mark.parametrize(("text", "index", "bashlex", "tree_sitter"), BASHLEX_BUGS)
def test_documented_bashlex_bugs(text, index, bashlex, tree_sitter) -> None:
    expected, problem = _parse_bashlex(text)
    got = _parse_tree_sitter(text)
    assert problem is None and got is not None
    assert tuple(w[0] for w in expected[index][0][1:]) == bashlex
    assert tuple(w[0] for w in got[index][0][1:]) == tree_sitter
    assert [c[3:] for c in got] == [c[3:] for c in expected]  # same commands and spans


def test_compound_redirect_substitution_runs() -> None:
    """`done < <(ls)` runs ls; bashlex's tree hangs the redirect on the loop, so it is lost."""
    text = "while read l; do echo; done < <(ls)"
    assert len(_parse_bashlex(text)[0]) == 2
    got = _parse_tree_sitter(text)
    assert got is not None and got[-1] == ((("ls", 32, 34),), (), (), 32, 34, True)


def test_bashlex_rejects_valid_bash_that_tree_sitter_reads() -> None:
    """`$((...))` and `time` are valid bash; only bashlex reported them as parse errors."""
    for text in ('echo "$((1+2))"', "time pip install x"):
        assert _parse_bashlex(text)[1] is not None
        assert _parse_cached(text)[1] is None
    assert _parse_tree_sitter("time pip install x") == (
        ((("time", 0, 4), ("pip", 5, 8), ("install", 9, 16), ("x", 17, 18)), (), (), 0, 18, False),
    )


def test_tree_sitter_errors_go_to_bashlex() -> None:
    """Broken scripts keep bashlex's verdict and message (SH006) and the fallback split."""
    for text in ("(pip install peft && echo done", 'echo "unterminated',
                 "python serve.py --port <port>"):
        assert _parse_tree_sitter(text) is None
        assert _parse_cached(text) == _parse_bashlex(text)
        assert _parse_cached(text)[1].startswith("shell parse error")


def test_tokens_tree_sitter_drops_fall_back() -> None:
    """tree-sitter-bash silently loses the `-` in `cmd -i - 2>&1`: such scripts go to bashlex."""
    text = "perf script -i - 2>&1"
    assert _parse_tree_sitter(text) is None
    assert _parse_cached(text)[0][0][0][-1] == ("-", 15, 16)


def test_non_ascii_positions_are_str_indices() -> None:
    text = 'echo "ü" && ls ö'
    got = _parse_tree_sitter(text)
    assert got is not None
    assert [w for c in got for w in c[0]] == [
        ("echo", 0, 4), ("ü", 5, 8), ("ls", 12, 14), ("ö", 15, 16)
    ]


def test_default_backend_is_tree_sitter() -> None:
    assert shell.BACKEND == "tree-sitter"
