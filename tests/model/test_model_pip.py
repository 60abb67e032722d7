"""pip/uv install commands: recognition, requirement classification and pinning."""

from __future__ import annotations

import pytest
from model_helpers import make

from carpenter.model.pip import classify_requirement, pip_installs, url_is_fixed
from carpenter.model.shell import Word


def installs(run: str, prefix: str = "FROM python:3.10\n"):
    df = make(prefix + run + "\n")
    return pip_installs(df.instructions[-1])


def req(text: str):
    return classify_requirement(text, Word(text, text, 0, len(text)))


@pytest.mark.parametrize("command", [
    "pip install x", "pip3 install x", "pip3.10 install x", "python -m pip install x",
    "python3.11 -m pip install x", "/usr/bin/python3 -m pip install x", "uv pip install x",
    "sudo -H pip install x", "env A=1 pip install x", "pip --no-cache-dir install x",
    "pip -q install x", "/opt/conda/bin/pip install x",
])
def test_recognised(command: str) -> None:
    found = installs("RUN " + command)
    assert len(found) == 1 and [r.name for r in found[0].requirements] == ["x"]


@pytest.mark.parametrize("command", [
    "pip download x", "pip uninstall x", "pipx install x", "python -m venv x",
    "echo pip install x", "uv add x", "pip freeze > x",
])
def test_not_an_install(command: str) -> None:
    assert installs("RUN " + command) == []


@pytest.mark.parametrize(("text", "pinned"), [
    ("torch==2.1.0", True), ("torch===2.1.0", True), ("Torch==2.1.0+cu121", True),
    ("torch", False), ("torch>=2.0", False), ("torch~=2.1", False), ("torch<2.2", False),
    ("torch!=2.0.0", False), ("torch==2.1.*", False), ("torch[cuda]", False),
    ("torch>=2.0,<2.2", False), ("torch==2.1.0,!=2.1.1", False),
    ("tokenizers==0.14.1; python_version>='3.8'", True),
])
def test_requirement_pinning(text: str, pinned: bool) -> None:
    assert req(text).kind == "requirement"
    assert req(text).pinned is pinned


def test_names_are_normalized_with_extras_and_marker() -> None:
    r = req("Flash_Attn[Triton]>=2.3 ; platform_system == 'Linux'")
    assert r.name == "flash-attn" and r.raw_name == "Flash_Attn"
    assert r.extras == ("Triton",) and r.specifier == ">=2.3"
    assert r.marker == 'platform_system == "Linux"'


@pytest.mark.parametrize(("text", "kind", "pinned"), [
    ("git+https://github.com/a/b", "vcs", False),
    ("git+https://github.com/a/b@main#egg=b", "vcs", False),
    ("git+https://github.com/a/b@3f1c2a9b8e7d6c5b4a3928172615049382716acd", "vcs", True),
    ("b @ git+https://github.com/a/b@v1.0", "vcs", False),
    ("https://x.org/flash_attn-2.3.3-cp310-cp310-linux_x86_64.whl", "url", True),
    ("https://x.org/pkg-1.2.3.tar.gz", "url", True),
    ("https://github.com/a/b/archive/refs/heads/main.zip", "url", False),
    ("https://x.org/pkg.tar.gz#sha256=" + "ab" * 32, "url", True),
    (".", "path", False), ("./pkg", "path", False), ("../x", "path", False),
    ("/wheels/x-1.0-py3-none-any.whl", "path", True), ("x-1.0-py3-none-any.whl", "path", True),
    (".[train]", "path", False),
])
def test_kinds(text: str, kind: str, pinned: bool) -> None:
    r = req(text)
    assert (r.kind, r.pinned) == (kind, pinned)


def test_vcs_ref_and_egg_name() -> None:
    r = req("git+https://github.com/a/b.git@v0.6.2#egg=my_pkg")
    assert r.vcs_ref == "v0.6.2" and r.name == "my-pkg"
    assert req("git+ssh://git@github.com/a/b").vcs_ref is None  # user@host is not a ref


def test_url_is_fixed() -> None:
    assert url_is_fixed("https://x/a/archive/" + "a" * 40 + ".tar.gz")
    assert not url_is_fixed("https://x/a/archive/main.tar.gz")


def test_options_files_indexes_and_flags() -> None:
    (found,) = installs(
        "RUN pip install -U --pre -r req.txt --constraint=c.txt -i https://idx/simple "
        "--extra-index-url https://extra/simple --no-build-isolation --no-deps -qqU "
        "--find-links /wheels peft"
    )
    assert [o.value for o in found.requirement_files] == ["req.txt"]
    assert [o.value for o in found.constraint_files] == ["c.txt"]
    assert [(o.name, o.value) for o in found.index_urls] == [
        ("--index-url", "https://idx/simple"), ("--extra-index-url", "https://extra/simple")]
    assert found.pre and found.upgrade
    assert found.has("--no-build-isolation") and found.has("--no-deps")
    assert [o.value for o in found.option_values("--find-links")] == ["/wheels"]
    assert [r.name for r in found.requirements] == ["peft"]  # option values are not packages
    assert found.unknown_options == []


def test_combined_short_option_with_value() -> None:
    (found,) = installs("RUN pip install -qrrequirements.txt")
    assert [o.value for o in found.requirement_files] == ["requirements.txt"]


def test_editable_becomes_a_requirement() -> None:
    (found,) = installs("RUN pip install -e . -e git+https://github.com/a/b@main#egg=b")
    kinds = [(r.kind, r.editable) for r in found.requirements]
    assert kinds == [("path", True), ("vcs", True)]


def test_misspelled_and_abbreviated_options() -> None:
    (found,) = installs("RUN pip install --no-cache-dirs --upgr --no-cache --force-reinst x")
    unknown = {o.name: o.suggestion for o in found.unknown_options}
    assert unknown["--no-cache-dirs"] == "--no-cache-dir"
    assert "--upgr" in unknown  # ambiguous: --upgrade or --upgrade-strategy
    assert "--no-cache" not in unknown and "--force-reinst" not in unknown  # unique prefixes


def test_uv_has_no_prefix_abbreviations() -> None:
    (found,) = installs("RUN uv pip install --syst x")
    assert [o.name for o in found.unknown_options] == ["--syst"]


def test_variables_are_expanded_from_arg_and_env() -> None:
    (found,) = installs(
        'RUN pip install "transformers==${TF}" peft==$PEFT $PKGS x==$NOPE',
        prefix='FROM python:3.10\nARG TF=4.35.1\nENV PEFT=0.6.2\nARG PKGS="a==1 b"\n',
    )
    by_name = {r.name: r for r in found.requirements}
    assert by_name["transformers"].pinned and by_name["peft"].pinned
    assert by_name["a"].pinned and not by_name["b"].pinned
    assert not by_name["x"].pinned and by_name["x"].missing_vars == {"NOPE"}


def test_word_offsets_point_into_the_file() -> None:
    df = make('FROM python:3.10\nRUN pip install \\\n    "peft>=0.6"\n')
    (found,) = pip_installs(df.instructions[1])
    word = found.requirements[0].word
    assert df.source.text[word.offset:word.end_offset] == '"peft>=0.6"'
    assert df.source.position(word.offset) == (3, 5)


def test_heredoc_and_sh_c_installs_are_found() -> None:
    df = make('FROM python:3.10\nRUN <<EOF\npip install a\nbash -c "pip install b"\nEOF\n')
    names = [r.name for i in pip_installs(df.instructions[1]) for r in i.requirements]
    assert names == ["a", "b"]


def test_uv_plural_spellings_and_pip_default_timeout() -> None:
    (uv,) = installs("RUN uv pip install --system --requirements r.txt --constraints c.txt")
    assert [o.value for o in uv.requirement_files] == ["r.txt"]
    assert [o.value for o in uv.constraint_files] == ["c.txt"]
    (pip,) = installs("RUN pip install --default-timeout=100 peft==0.6.2")
    assert pip.unknown_options == [] and [r.name for r in pip.requirements] == ["peft"]
