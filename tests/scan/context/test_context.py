"""BuildContext: listing, Docker glob semantics, symlinks, caps, LFS pointers, git state."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from carpenter.model import context as context_module
from carpenter.model.context import BuildContext, git_state
from carpenter.model.dockerfile import parse_dockerfile
from carpenter.model.source import SourceFile

from .conftest import git, rules_at, scan, write

LFS = ("version https://git-lfs.github.com/spec/v1\n"
       "oid sha256:" + "ab" * 32 + "\nsize 13435\n")


def load(root: Path, dockerfile_text: str = "FROM scratch\n") -> tuple[BuildContext, object]:
    path = root / "Dockerfile"
    path.write_text(dockerfile_text)
    df = parse_dockerfile(SourceFile(str(path), dockerfile_text))
    ctx = BuildContext.load(str(root), df)
    assert ctx is not None
    return ctx, df


def test_glob_follows_docker_rules(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "", "b.py": "", "sub/c.py": "", ".hidden.py": "", "d[1].txt": ""})
    ctx, _ = load(tmp_path)
    assert ctx.glob("*.py") == [".hidden.py", "a.py", "b.py"]  # dot files match, no recursion
    assert ctx.glob("*/*.py") == ["sub/c.py"]
    assert ctx.glob("?.py") == ["a.py", "b.py"]
    assert ctx.glob("/sub/../a.py") == ["a.py"]  # cleaned, relative to the context
    assert ctx.glob("d\\[1\\].txt") == ["d[1].txt"]
    assert ctx.glob("missing/*.py") == []


def test_copy_sources_expand_variables_and_skip_other_stages(tmp_path: Path) -> None:
    write(tmp_path, {"app/main.py": ""})
    ctx, df = load(tmp_path, "FROM scratch AS b\nARG DIR=app\nCOPY ${DIR}/main.py /x/\n"
                             "COPY --from=b /x /y\nADD https://example.org/f /f\n"
                             'COPY ["app", "/srv/"]\n')
    sources = ctx.copy_sources(df)
    assert [(s.text, s.pattern, s.matches) for s in sources] == [
        ("${DIR}/main.py", "app/main.py", ["app/main.py"]),
        ("app", "app", ["app"]),
    ]


def test_symlinks_are_listed_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "weights.bin").write_text("w")
    ctx_dir = tmp_path / "ctx"
    write(ctx_dir, {"models/cfg.json": "{}"})
    os.symlink(outside / "weights.bin", ctx_dir / "models" / "weights.bin")
    os.symlink("cfg.json", ctx_dir / "models" / "alias.json")
    os.symlink(outside, ctx_dir / "loop")
    ctx, _ = load(ctx_dir)
    assert ctx.entries["models/weights.bin"].outside
    assert not ctx.entries["models/alias.json"].outside
    assert ctx.entries["loop"].kind == "symlink"
    assert "loop/weights.bin" not in ctx.entries  # never descended


def test_huge_context_is_capped_and_reported(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, {f"data/{i:03}.txt": "" for i in range(60)})
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY data/ /data/\n")
    monkeypatch.setattr(context_module, "MAX_ENTRIES", 25)
    findings = scan(tmp_path / "Dockerfile")
    assert ("CTX009", "Dockerfile", 1) in rules_at(findings)
    ctx = BuildContext.load(str(tmp_path), None)
    assert ctx.truncated and len(ctx.entries) == 25


def test_ignored_folders_are_not_walked(tmp_path: Path) -> None:
    write(tmp_path, {".dockerignore": "venv\n", "venv/lib/x.py": "", "app.py": ""})
    ctx, _ = load(tmp_path)
    assert "venv" in ctx.entries and "venv/lib" not in ctx.entries
    assert ctx.excluded_by("venv/lib/x.py") is not None


def test_lfs_pointer_detection(tmp_path: Path) -> None:
    write(tmp_path, {"w/a.safetensors": LFS, "w/b.safetensors": "x" * 200, "w/c.txt": "version"})
    ctx, _ = load(tmp_path)
    assert ctx.is_lfs_pointer("w/a.safetensors")
    assert not ctx.is_lfs_pointer("w/b.safetensors")
    assert not ctx.is_lfs_pointer("w/c.txt")


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A repository with tracked, untracked and ignored files, an LFS pointer and submodules."""
    lib = tmp_path / "lib"
    write(lib, {"setup.py": "print(1)\n"})
    git(lib, "init", "-q")
    git(lib, "add", ".")
    git(lib, "commit", "-qm", "lib")
    root = tmp_path / "repo"
    write(root, {
        ".gitignore": "outputs/\n*.ckpt\n",
        "serve.py": "print(1)\n",
        "adapter/adapter_model.safetensors": LFS,
        "adapter/adapter_config.json": "{}\n",
    })
    git(root, "init", "-q")
    git(root, "submodule", "add", "-q", str(lib), "third_party/lib")
    git(root, "submodule", "add", "-q", str(lib), "third_party/empty")
    git(root, "add", ".")
    git(root, "commit", "-qm", "initial")
    # A fresh clone state for one submodule: deinit leaves an empty folder.
    git(root, "submodule", "deinit", "-q", "-f", "third_party/empty")
    write(root, {"notes.md": "local notes\n", "outputs/lora/adapter.bin": "w\n",
                 "adapter/extra.ckpt": "w\n"})
    return root


def test_git_state_from_three_ls_files_calls(repo: Path) -> None:
    state = git_state(str(repo))
    assert state is not None
    assert state.status("serve.py") == "tracked"
    assert state.status("adapter") == "tracked"
    assert state.status("notes.md") == "untracked"
    assert state.status("outputs/lora/adapter.bin") == "ignored"
    assert state.status("outputs") == "ignored"
    assert state.status("adapter/extra.ckpt") == "ignored"
    assert set(state.submodules) == {"third_party/lib", "third_party/empty"}
    assert state.submodules["third_party/lib"].initialised
    assert not state.submodules["third_party/empty"].initialised
    assert state.submodules["third_party/lib"].url.endswith("lib")


def test_git_state_of_a_subfolder_context(repo: Path) -> None:
    state = git_state(str(repo / "adapter"))
    assert state is not None and state.prefix == "adapter"
    assert state.status("adapter_config.json") == "tracked"
    assert state.status("extra.ckpt") == "ignored"


def test_fresh_clone_artifacts_are_reported(repo: Path) -> None:
    dockerfile = repo / "Dockerfile"
    dockerfile.write_text(
        "FROM scratch\n"
        "COPY serve.py /app/\n"
        "COPY notes.md /app/\n"
        "COPY outputs/lora /app/lora\n"
        "COPY adapter/ /app/adapter/\n"
        "COPY third_party/lib /app/lib\n"
        "COPY third_party/empty /app/empty\n"
    )
    git(repo, "add", "Dockerfile")
    git(repo, "commit", "-qm", "dockerfile")
    found = rules_at(scan(dockerfile))
    assert ("CTX003", "Dockerfile", 2) not in found  # tracked
    assert ("CTX003", "Dockerfile", 3) in found  # untracked
    assert ("CTX003", "Dockerfile", 4) in found  # git-ignored
    assert ("CTX003", "Dockerfile", 5) in found  # copies an ignored .ckpt inside a tracked folder
    assert ("CTX004", "Dockerfile", 5) in found  # LFS pointer
    assert ("CTX005", "Dockerfile", 6) in found  # initialised here, empty in a fresh clone
    assert ("CTX005", "Dockerfile", 7) in found  # empty now
    severities = {f.line: f.severity for f in scan(dockerfile) if f.rule == "CTX005"}
    assert severities == {6: "warning", 7: "error"}


def test_uncommitted_dockerfile_does_not_flag_everything(repo: Path) -> None:
    dockerfile = repo / "Dockerfile"
    dockerfile.write_text("FROM scratch\nCOPY notes.md /app/\n")
    assert not [f for f in scan(dockerfile) if f.rule == "CTX003"]


def test_context_outside_a_repository_has_no_git_state(tmp_path: Path) -> None:
    write(tmp_path, {"a.txt": ""})
    assert git_state(str(tmp_path)) is None


def test_one_listing_per_repository_not_per_context(repo: Path, monkeypatch) -> None:
    import git as gitpython

    calls: list[tuple] = []
    original = gitpython.Git.execute

    def counting(self, command, *args, **kwargs):
        calls.append(tuple(command))
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(gitpython.Git, "execute", counting)
    for folder in ("", "adapter", "outputs", "outputs/lora", "third_party"):
        assert git_state(str(repo / folder)) is not None
    assert len([c for c in calls if "ls-files" in c]) == 3
    # A checked-out submodule is a repository of its own: one more listing.
    assert git_state(str(repo / "third_party" / "lib")).prefix == ""
    assert len([c for c in calls if "ls-files" in c]) == 6
