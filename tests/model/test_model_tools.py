"""apt, conda, image references, git clones and project metadata models."""

from __future__ import annotations

import pytest
from model_helpers import make

from carpenter.model.apt import apt_commands
from carpenter.model.conda import conda_commands, environment_entries, parse_spec
from carpenter.model.git import checkouts_after, clone_of, git_calls, is_tag_like
from carpenter.model.images import image_refs, split_ref
from carpenter.model.project import project_dependencies
from carpenter.model.source import SourceFile

SHA = "3f1c2a9b8e7d6c5b4a3928172615049382716acd"


def test_apt_packages_versions_and_options() -> None:
    df = make("FROM x\nRUN apt-get -o A=B install -yq --no-install-recommends git=1:2.34 "
              "libgl1=1.* cmake/jammy ./x.deb -yes\n")
    (apt,) = apt_commands(df.instructions[1])
    assert apt.verb.text == "install"
    assert [(p.name, p.pinned) for p in apt.packages] == [
        ("git", True), ("libgl1", False), ("cmake", False), ("./x.deb", True)]
    unknown = [(o.text, o.suggestion) for o in apt.options if not o.known]
    assert unknown == [("-yes", "-y")]


@pytest.mark.parametrize(("spec", "pinned"), [
    ("python=3.10", True), ("numpy==1.26.0", True), ("pytorch=2.1.0=py3.10_cuda12.1_0", True),
    ("conda-forge::sentencepiece=0.1.99", True), ("pytorch", False), ("numpy>=1.24", False),
    ("cudatoolkit=11.*", False), ("scipy 1.11.4", True), ("scipy 1.11.*", False),
    ("numpy>=1.24,<2", False),
])
def test_conda_spec_pinning(spec: str, pinned: bool) -> None:
    assert parse_spec(spec, 0, len(spec)).pinned is pinned


def test_conda_command_files_and_env_verbs() -> None:
    df = make("FROM x\nRUN conda env create -n a -f /e.yml && mamba install -c nvidia cuda "
              "&& conda update --all\n")
    env, install, update = conda_commands(df.instructions[1])
    assert (env.verb.text, env.env_verb.text, [v for _, v in env.files]) == ("env", "create",
                                                                            ["/e.yml"])
    assert [s.name for s in install.specs] == ["cuda"]  # -c takes a value
    assert update.all_packages


def test_environment_yml_entries_with_offsets() -> None:
    text = "name: x\ndependencies:\n  - python=3.10\n  - pip:\n    - \"peft>=0.6\"\n"
    entries = environment_entries(SourceFile("environment.yml", text))
    assert [(e.manager, e.text) for e in entries] == [("conda", "python=3.10"),
                                                      ("pip", "peft>=0.6")]
    assert text[entries[1].offset:entries[1].end_offset] == "peft>=0.6"
    assert environment_entries(SourceFile("e.yml", "dependencies: [\n")) is None


@pytest.mark.parametrize(("ref", "parts"), [
    ("python", ("python", None, None)),
    ("python:3.10-slim", ("python", "3.10-slim", None)),
    ("localhost:5000/a/b", ("localhost:5000/a/b", None, None)),
    ("reg:5000/a/b:1.0@sha256:ab", ("reg:5000/a/b", "1.0", "sha256:ab")),
])
def test_split_ref(ref: str, parts: tuple) -> None:
    assert split_ref(ref) == parts


def test_image_refs_skip_stages_and_scratch() -> None:
    df = make("ARG B=python:3.10\nFROM $B AS a\nFROM a\nFROM scratch\n"
              "COPY --from=a /x /x\nCOPY --from=busybox:1.36 /bin/sh /sh\n")
    assert [(r.ref, r.stage is not None) for r in image_refs(df)] == [
        ("python:3.10", True), ("busybox:1.36", False)]


def test_git_clone_target_and_checkouts() -> None:
    df = make(f"FROM x\nWORKDIR /opt\nRUN git clone -b dev https://h/a/repo.git && cd repo\n"
              f"WORKDIR /opt/repo\nRUN git checkout {SHA}\n"
              f"RUN git -C /elsewhere checkout v1.0\n")
    calls = git_calls(df.stages[0])
    clone = clone_of(calls[0])
    assert (clone.target, clone.branch) == ("/opt/repo", "dev")
    assert checkouts_after(calls, clone) == [SHA]


def test_tag_like_refs() -> None:
    assert is_tag_like("v2.3.3") and is_tag_like("0.41.1") and is_tag_like("release-1.2")
    assert is_tag_like("tags/v1.0") and is_tag_like("refs/tags/nightly")
    assert not is_tag_like("main") and not is_tag_like(None)


def test_project_dependencies_from_three_formats() -> None:
    files = {
        "p/pyproject.toml": '[project]\nname="x"\ndependencies=["a>=1"]\n'
                            '[project.optional-dependencies]\ngpu=["b"]\n',
        "p/setup.cfg": "[options]\ninstall_requires =\n    c==1\n    d\n",
        "p/setup.py": "from setuptools import setup\nsetup(install_requires=['e<2'])\n",
    }
    read = lambda rel: SourceFile(rel, files[rel]) if rel in files else None  # noqa: E731
    found = project_dependencies(read, "p", ("gpu",))
    assert [d.text for d in found] == ["a>=1", "b", "c==1", "d", "e<2"]
    for dep in found:
        assert dep.source.text[dep.offset:dep.end_offset] == dep.text
