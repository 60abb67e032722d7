"""Secret detection: shapes, boundaries, placeholders, detect-secrets engine, git history."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from carpenter.model.history import scan_history
from carpenter.scan.secrets import (
    find_assignment_secrets,
    find_secrets,
    find_secrets_in_file_text,
    is_placeholder,
    is_secret_name,
    scan_files,
)

from .conftest import fake_token, git, rules_at, scan, write

HF = fake_token(1)
HF_DIGITS = "hf_" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0UvWx"  # 34, digits allowed
ORG = fake_token(2, "api_org_")
WANDB = "0c5a3e9b7d2f4a6c8e0b1d3f5a7c9e1b3d5f7a9c"
GHP = "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5"


@pytest.mark.parametrize(("text", "kind"), [
    (f"ENV HF_TOKEN={HF}", "huggingface-token"),
    (f'ENV HF_TOKEN="{HF}"', "huggingface-token"),
    (f"RUN huggingface-cli login --token {HF} && echo", "huggingface-token"),
    (f'"text": ["token \\"{HF}\\"\\n"]', "huggingface-token"),  # escaped JSON in a notebook
    (f"x = '{HF_DIGITS}'", "huggingface-token"),
    (f"HF_ORG={ORG}", "huggingface-org-token"),
    (f"export WANDB_API_KEY={WANDB}", "wandb-api-key"),
    (f"RUN wandb login {WANDB}", "wandb-api-key"),
    (f"git clone https://alice:{GHP}@github.com/a/b", "github-token"),
    ("pip install --index-url https://bob:Sup3rS3cretPw@pypi.example.org/simple x",
     "url-credentials"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "private-key"),
    ("key = AKIAIOSFODNN7EXAMPLQ", "aws-access-key-id"),
])
def test_shapes_are_found(text: str, kind: str) -> None:
    assert kind in [h.kind for h in find_secrets(text)]


@pytest.mark.parametrize("text", [
    "_call_hf_processor_with_fast_tokenizer_and_cache_on",  # hf_ inside an identifier
    f"x{HF}",  # a word character before the prefix
    f"{HF}abc",  # body too long: not a token
    "hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "HF_TOKEN=hf_YourTokenHereYourTokenHereYourTo",
    f"git checkout {WANDB}",  # 40 hex without a W&B keyword is a commit
    "sha256:" + "ab" * 32,
    "https://user:$PASSWORD@example.org",
])
def test_lookalikes_are_not_found(text: str) -> None:
    assert find_secrets(text) == []


@pytest.mark.parametrize("value", ["", "$HF_TOKEN", "${HF_TOKEN}", "<your token>", "YOUR_TOKEN",
                                   "hf_xxxx", "meta-llama/Llama-2-7b-hf", "changeme", "None",
                                   "/run/secrets/hf_token", "insert-your-key-here"])
def test_placeholders(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize(("name", "secret"), [
    ("HF_TOKEN", True), ("HUGGINGFACE_TOKEN", True), ("WANDB_API_KEY", True),
    ("DB_PASSWORD", True), ("hfToken", True), ("TOKENIZERS_PARALLELISM", False),
    ("MAX_NEW_TOKENS", False), ("HF_TOKEN_PATH", False), ("PUBLIC_KEY", False),
    ("TOKENIZER_NAME", False),
])
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_generic_random_value_needs_a_secret_name() -> None:
    assert find_assignment_secrets("DB_PASSWORD", "Zx8Qp2Lm9Wv4Rt7Yb3Nc")[0].kind == \
        "generic-secret"
    assert find_assignment_secrets("BUILD_ID", "Zx8Qp2Lm9Wv4Rt7Yb3Nc") == []
    hits = find_secrets_in_file_text("api_key: Zx8Qp2Lm9Wv4Rt7Yb3Nc\nname: Zx8Qp2Lm9Wv4Rt7Yb3Nc\n")
    assert [h.start for h in hits] == [9]


def test_detect_secrets_engine_with_carpenter_plugins(tmp_path: Path) -> None:
    jwt = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4i"
           "fQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
    write(tmp_path, {
        "a.py": f'login(token="{HF}")\n',
        "b.sh": f"export HF_TOKEN={HF}\n",  # unquoted: detect-secrets alone misses it
        "c.json": json.dumps({"jwt": jwt}) + "\n",  # only detect-secrets' own JWT plugin
        ".netrc": f"machine api.wandb.ai\n  login me\n  password {WANDB}\n",
        "d.txt": "nothing here\n",
    })
    hits = scan_files([str(tmp_path / n) for n in ("a.py", "b.sh", "c.json", ".netrc", "d.txt")])
    found = {(Path(h.path).name, h.line, h.kind) for h in hits}
    assert found == {("a.py", 1, "huggingface-token"), ("b.sh", 1, "huggingface-token"),
                     ("c.json", 1, "jwt"), (".netrc", 3, "wandb-api-key")}


def test_secrets_in_dockerfile_and_context(tmp_path: Path) -> None:
    write(tmp_path, {
        "Dockerfile": (
            "FROM scratch\n"
            f"ENV HUGGINGFACE_TOKEN={HF}\n"
            "ARG HF_TOKEN\n"
            f"RUN HF_TOKEN={HF_DIGITS} python -c 'print(1)'\n"
            "COPY app/ /app/\n"
        ),
        "app/download.py": f'TOKEN = "{ORG}"\n',
        "notes.md": f"my token {fake_token(9)}\n",  # sent, not copied: a warning
        ".dockerignore": "ignored.txt\n",
        "ignored.txt": f"{fake_token(10)}\n",  # not sent: not reported
    })
    findings = scan(tmp_path / "Dockerfile")
    found = rules_at(findings)
    assert {("SEC001", "Dockerfile", 2), ("SEC001", "Dockerfile", 4), ("SEC005", "Dockerfile", 3),
            ("SEC002", "download.py", 1), ("SEC002", "notes.md", 1)} <= found
    assert not any(f.path.endswith("ignored.txt") for f in findings)
    by_file = {f.path.rsplit("/", 1)[-1]: f for f in findings if f.rule == "SEC002"}
    assert by_file["download.py"].severity == "error" and by_file["notes.md"].severity == "warning"
    env = next(f for f in findings if f.rule == "SEC001" and f.line == 2)
    assert env.data["variable"] == "HUGGINGFACE_TOKEN"
    assert env.data["secret_kind"] == "huggingface-token"
    assert env.column == len("ENV HUGGINGFACE_TOKEN=") + 1


def test_token_deleted_from_history_is_reported_with_its_commit(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    old = fake_token(3)
    write(repo, {"download.py": f'import os\nTOKEN = "{old}"\n', "Dockerfile": "FROM scratch\n"})
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "add download script")
    leaked_in = git(repo, "rev-parse", "HEAD")
    write(repo, {"download.py": 'import os\nTOKEN = os.environ["HF_TOKEN"]\n'})
    git(repo, "commit", "-qam", "read the token from the environment")
    (repo / "Dockerfile").write_text("FROM scratch\nCOPY download.py /app/\n")
    findings = [f for f in scan(repo / "Dockerfile") if f.rule == "SEC004"]
    assert len(findings) == 1
    finding = findings[0]
    assert finding.data["commit"] == leaked_in
    assert finding.line == 2 and finding.path.endswith("download.py")
    assert leaked_in[:10] in finding.message and old not in finding.message


def test_history_scan_counts_and_caps(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    for index in range(5):
        write(repo, {f"f{index}.txt": f"line {index}\n"})
        git(repo, "add", ".")
        git(repo, "commit", "-qm", f"c{index}")
    full = scan_history(str(repo))
    assert (full.commits, full.file_changes, full.truncated) == (5, 5, False)
    capped = scan_history(str(repo), max_commits=2, detector=find_secrets_in_file_text)
    assert capped.commits == 2 and capped.truncated


def test_history_scan_is_one_git_process_not_one_per_file(tmp_path: Path, monkeypatch) -> None:
    import git as gitpython

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    write(repo, {f"d/{i}.py": f"x = {i}\n" for i in range(40)})
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "many files")
    calls: list[tuple] = []
    original = gitpython.Git.execute

    def counting(self, command, *args, **kwargs):
        calls.append(tuple(command))
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(gitpython.Git, "execute", counting)
    started = time.perf_counter()
    result = scan_history(str(repo))
    assert result.file_changes == 40
    assert len([c for c in calls if "log" in c]) == 1
    assert time.perf_counter() - started >= 0  # figures live in bench/history_bench.py


def test_nothing_is_verified_over_the_network(tmp_path: Path, monkeypatch) -> None:
    import requests

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(requests.Session, "request", refuse)
    slack = "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
    write(tmp_path, {"creds.py": f'AWS = "AKIAIOSFODNN7EXAMPLQ"\nSLACK = "{slack}"\n'
                                 f'HF = "{HF}"\n'})
    hits = scan_files([str(tmp_path / "creds.py")])
    assert {h.kind for h in hits} >= {"aws-access-key-id", "slack-token", "huggingface-token"}
