"""Leak test: tokens of every known shape, planted in every input channel, never appear in full
in any output channel of scan or fix (stdout, stderr, -o reports, the step summary, the result
cache database, diffs, JSON, --write/--out runs).

Commands run through `carpenter.cli.main`, the real entry point with its redacting streams; the
run-wide redaction registry is emptied before each command, as a fresh process would have it.
"""

from __future__ import annotations

import json
import random
import shutil
import string
import subprocess
from pathlib import Path

import pytest

from carpenter.cli import main
from carpenter.core import redact

_RNG = random.Random(13)


def _letters(n: int, alphabet: str = string.ascii_letters) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"
# One token per shape of carpenter/data/secrets.toml, plus the shapeless URL credentials.
TOKENS = {
    "hf": "hf_" + _letters(34),
    "hf_context": "hf_" + _letters(34),
    "hf_history": "hf_" + _letters(34),
    "api_org": "api_org_" + _letters(34),
    "wandb_v1": "wandb_v1_" + _letters(77, _ALNUM + "_"),
    "wandb_hex": _letters(40, _HEX),
    "ghp": "ghp_" + _letters(36, _ALNUM),
    "github_pat": "github_pat_" + _letters(82, _ALNUM + "_"),
    "akia": "AKIA" + _letters(16, string.ascii_uppercase + string.digits),
    "openai": "sk-proj-" + _letters(40, _ALNUM),
    "pypi": "pypi-AgE" + _letters(60, _ALNUM),
    "google": "AIza" + _letters(35, _ALNUM),
    "slack": "xoxb-" + _letters(30, _ALNUM),
    "url_password": _letters(20, _ALNUM),
    "url_empty_user": _letters(20, _ALNUM),
    "url_token_user": _letters(40, _HEX),
    "query_token": _letters(24, _ALNUM),
    "query_access_token": _letters(24, _ALNUM),
    "build_arg_wandb": _letters(40, _HEX),
    "build_arg_password": "pw-" + _letters(13, _ALNUM),
    "context_ghp": "ghp_" + _letters(36, _ALNUM),
}


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                    "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True,
                   capture_output=True)


DOCKERFILE = """\
FROM python:3.11
ENV HUGGINGFACE_TOKEN={hf}
# old org token {api_org}
ARG GH={ghp}
ARG DB_PASSWORD
RUN pip install git+https://user:{github_pat}@github.com/org/pkg.git
RUN git clone https://me:{url_password}@huggingface.co/org/model /m
RUN git clone https://:{url_empty_user}@huggingface.co/org/data /d
RUN git clone https://{url_token_user}@github.com/org/repo /r
RUN curl -fsSL "https://example.com/w.bin?token={query_token}" -o /w.bin
RUN curl -fsSL "https://example.com/x.bin?v=1&access_token={query_access_token}" -o /x.bin
RUN apt-get update && apt-get install -y curl wandb login {wandb_hex}
RUN echo {akia} {openai} {pypi} {google} {slack} {wandb_v1}
RUN echo "wandb key:" && echo $DB_PASSWORD
COPY . /app
"""


@pytest.fixture(autouse=True)
def fresh_registry():
    """Each command starts with the empty registry a new process has."""
    redact.forget_all()
    yield
    redact.forget_all()


@pytest.fixture()
def leaky(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "old.py").write_text(f'TOKEN = "{TOKENS["hf_history"]}"\n')
    (repo / "Dockerfile").write_text("FROM scratch\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "old token")
    (repo / "old.py").write_text("TOKEN = None\n")
    _git(repo, "commit", "-qam", "drop it")
    (repo / "Dockerfile").write_text(DOCKERFILE.format(**TOKENS))
    (repo / ".env").write_text(f"HF_TOKEN={TOKENS['hf_context']}\n")
    (repo / "config.py").write_text(f'github_token = "{TOKENS["context_ghp"]}"\n')
    return repo


BUILD_ARGS = ["--build-arg", f"WANDB_API_KEY={TOKENS['build_arg_wandb']}",
              "--build-arg", f"DB_PASSWORD={TOKENS['build_arg_password']}"]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    redact.forget_all()
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    assert exit_info.value.code in (0, 1), capsys.readouterr().err[-2000:]
    captured = capsys.readouterr()
    return captured.out + captured.err


def _assert_clean(text: str, channel: str) -> None:
    leaked = sorted(name for name, token in TOKENS.items() if token in text)
    assert not leaked, f"{channel} leaks {leaked}"


def _assert_tree_clean(root: Path, channel: str, skip: set[str] = frozenset()) -> None:
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts and path.name not in skip:
            _assert_clean(path.read_bytes().decode("utf-8", "replace"), f"{channel} {path}")


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_scan_outputs_hold_no_token(fmt: str, leaky: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    cache = tmp_path / "cache"
    report = tmp_path / f"report.{fmt}"
    args = ["scan", str(leaky / "Dockerfile"), "--format", fmt, "--cache-dir", str(cache),
            "--color", "always", *BUILD_ARGS]
    printed = _run(capsys, *args)
    assert "SEC001" in printed  # the planted tokens were seen
    _assert_clean(printed, f"scan --format {fmt}")
    _run(capsys, *args, "-o", str(report))
    _assert_clean(report.read_text(), f"scan -o ({fmt})")
    warm = _run(capsys, *args)  # from the result cache
    _assert_clean(warm, f"warm scan --format {fmt}")
    _assert_tree_clean(cache, "result cache")
    if summary.exists():
        _assert_clean(summary.read_text(), "step summary")


def test_fix_outputs_hold_no_token(leaky: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    dockerfile = str(leaky / "Dockerfile")
    _assert_clean(_run(capsys, "fix", dockerfile, *BUILD_ARGS), "fix diff")
    printed = _run(capsys, "fix", dockerfile, "--format", "json", *BUILD_ARGS)
    _assert_clean(printed, "fix json")
    assert json.loads(printed[:printed.rindex("}") + 1])["applied"]
    out = tmp_path / "out"
    _assert_clean(_run(capsys, "fix", dockerfile, "--out", str(out), *BUILD_ARGS), "fix --out")
    # The repaired copy: a line fix moved a secret out of holds no token any more (a comment
    # it cannot fix, and the context files, stay the user's own text).
    repaired = (out / "Dockerfile").read_text()
    assert TOKENS["hf"] not in repaired and TOKENS["url_password"] not in repaired
    written = tmp_path / "written"
    shutil.copytree(leaky, written)
    printed = _run(capsys, "fix", str(written / "Dockerfile"), "--write", "--format", "json",
                   *BUILD_ARGS)
    _assert_clean(printed, "fix --write")


def test_real_process_streams_hold_no_token(leaky: Path) -> None:
    """The installed entry point (click's own stream helpers included) masks stderr too."""
    import sys

    done = subprocess.run([sys.executable, "-m", "carpenter.cli", "fix", str(leaky / "Dockerfile"),
                           *BUILD_ARGS], capture_output=True, text=True, timeout=120)
    assert "not fixed" in done.stderr
    _assert_clean(done.stdout + done.stderr, "fix (process)")


def test_registered_value_is_masked_on_a_later_line(capsys: pytest.CaptureFixture[str]) -> None:
    """`echo "key:" && echo <key>`: the key arrives alone, in a later write, with no shape."""
    import sys

    secret = TOKENS["build_arg_password"]
    with redact.redacted_std_streams():
        redact.remember([secret])
        sys.stdout.write("wandb key:\n")
        sys.stdout.write(secret[:5])
        sys.stdout.flush()
        sys.stdout.write(secret[5:] + "\n")
        sys.stderr.write(f"tail without newline {secret}")
    captured = capsys.readouterr()
    assert secret not in captured.out and secret not in captured.err
    assert "wandb key:" in captured.out and "tail without newline" in captured.err


def test_compiled_caches_hold_no_token(leaky: Path, tmp_path: Path) -> None:
    """The compiled-pattern caches (~/.cache/carpenter/re-*.marshal) keep pattern texts: only
    Carpenter's and its libraries' own, never text of a submission (a token planted in a
    .dockerignore line, the Dockerfile, the context, the history or a build arg). Run as users
    run it (the console script's module, caches on, twice: written, then read and merged)."""
    import os
    import sys

    (leaky / ".dockerignore").write_text(f"*{TOKENS['hf']}*\n!{TOKENS['ghp']}?\n")
    cache = tmp_path / "compiled"
    env = {**os.environ, "CARPENTER_CACHE_DIR": str(cache), "CARPENTER_NO_SERVER": "1"}
    env.pop("CARPENTER_NO_CACHE", None)
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "carpenter", "scan", "--no-cache",
                               str(leaky / "Dockerfile"), *BUILD_ARGS],
                              capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 1 and "SEC001" in done.stdout, done.stderr[-2000:]
    assert sorted(p.name.split("-cpython")[0] for p in cache.iterdir()) == ["re", "re-imports"]
    _assert_tree_clean(cache, "compiled caches")
