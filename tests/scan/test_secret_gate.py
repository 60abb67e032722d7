"""The detect-secrets gate (issue 14): skipping files it rules out changes no result.

`carpenter.scan.secret_gate` sends a context file to detect-secrets only where one of its
plugins' regexes could match; the data it uses is generated from the installed detect-secrets.
These tests compare the gated scan with detect-secrets run on every file, over the fixture
submissions, the cold-scan bench corpus and planted secrets of every kind (Carpenter's shapes
and each detect-secrets plugin, in plain, YAML, INI and config-like files).
"""

from __future__ import annotations

import random
import string
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from carpenter.model import context as model_context
from carpenter.model.context import BuildContext
from carpenter.scan import secrets
from carpenter.scan.secret_gate import may_report
from carpenter.scan.secret_gate_build import main as build_main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "submissions"
sys.path.insert(0, str(ROOT / "bench"))

import cold_scan_bench  # noqa: E402

RNG = random.Random(14)


def _rand(alphabet: str, n: int) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


UPPER = string.ascii_uppercase + string.digits
LETTERS = string.ascii_letters
# One value per token shape of carpenter/data/secrets.toml (kind -> value).
TOKENS = {
    "huggingface-token": lambda: "hf_" + _rand(LETTERS, 34),
    "huggingface-org-token": lambda: "api_org_" + _rand(LETTERS, 34),
    "wandb-api-key": lambda: "wandb_v1_" + _rand(ALNUM, 77),
    "github-token": lambda: "ghp_" + _rand(ALNUM, 36),
    "aws-access-key-id": lambda: "AKIA" + _rand(UPPER, 16),
    "openai-api-key": lambda: "sk-proj-" + _rand(ALNUM, 40),
    "pypi-token": lambda: "pypi-AgE" + _rand(ALNUM, 60),
    "google-api-key": lambda: "AIza" + _rand(ALNUM, 35),
    "slack-token": lambda: "xoxb-" + _rand(ALNUM, 24),
}


def _planted_lines() -> list[str]:
    """One value of every shape Carpenter knows and every detect-secrets plugin reports."""
    from carpenter.core.shapes import secret_data

    assert {shape.kind for shape in secret_data().tokens} <= set(TOKENS)  # a new shape: add it
    lines = [f"value_{kind.replace('-', '_')} = '{make()}'" for kind, make in TOKENS.items()]
    lines += [
        f"wandb_key = '{_rand(HEX, 40)}'", f'kaggle "key": "{_rand(HEX, 32)}"',
        f"aws_secret_access_key = '{_rand(ALNUM, 40)}'",
        f"key = 'AKIA{_rand(string.ascii_uppercase + string.digits, 16)}'",
        f'db_password = "{_rand(ALNUM, 20)}"', f"password: {_rand(ALNUM, 20)}",
        f"url = 'https://user:{_rand(ALNUM, 12)}@example.com/x'",
        "-----BEGIN RSA PRIVATE KEY-----", f"x = 'ghp_{_rand(ALNUM, 36)}'",
        f"glpat-{_rand(ALNUM, 20)}", f"t = 'xoxb-{RNG.randint(10**9, 10**10)}-{_rand(HEX, 24)}'",
        f"sk_live_{_rand(ALNUM, 24)}", f"AC{_rand(HEX, 32)}", f"{_rand(HEX, 32)}-us12",
        f"{RNG.randint(10**8, 10**9)}:{_rand(ALNUM, 35)}",
        f"M{_rand(ALNUM, 23)}.{_rand(ALNUM, 6)}.{_rand(ALNUM, 27)}",
        f"SG.{_rand(ALNUM, 22)}.{_rand(ALNUM, 43)}", f"AKC{_rand(ALNUM, 12)} ",
        f"eyJ{_rand(ALNUM, 20)}.eyJ{_rand(ALNUM, 20)}.{_rand(ALNUM, 20)}",
        f"AccountKey={_rand(ALNUM, 88)}",
        f"//registry.npmjs.org/:_authToken=npm_{_rand(ALNUM, 30)}",
        f"sk-{_rand(ALNUM, 20)}T3BlbkFJ{_rand(ALNUM, 20)}",
        f"sq0csp-{_rand(ALNUM, 43)}", f"cloudant_password='{_rand(HEX, 64)}'",
        f"ibm_cloud_iam_key = '{_rand(ALNUM, 44)}'", f"secret_key = '{_rand(HEX, 48)}'",
    ]
    return lines


def _planted_submission(root: Path) -> Path:
    lines = _planted_lines()
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM python:3.11\nCOPY . .\n")
    (root / "plain.py").write_text("\n".join(lines) + "\n")
    (root / "notes.txt").write_text("\n".join(lines) + "\n")
    # YAML and INI are rewritten by detect-secrets' transformers before its plugins run.
    yaml_lines = [f"k{i}: {line!r}" if i % 2 else f"k{i}: {line.split('=')[-1].strip()}"
                  for i, line in enumerate(lines)]
    (root / "config.yaml").write_text("\n".join(yaml_lines) + "\n")
    (root / "setup.cfg").write_text("[main]\n" + "\n".join(
        f"key{i} = {line}" for i, line in enumerate(lines) if "%" not in line) + "\n")
    (root / "app.ini").write_text("[auth]\npassword =\n    " + _rand(ALNUM, 24) + "\n")
    (root / "pairs.txt").write_text("".join(f"key{i}: {line}\n" for i, line in enumerate(lines)))
    (root / "clean.yaml").write_text("model: org/name\nlr: 2.0e-5\n")
    # One value per file: a gate that misses one plugin's shape shows here.
    (root / "one").mkdir()
    for i, line in enumerate(lines):
        (root / "one" / f"v{i}.sh").write_text(f"echo start\n{line}\n")
    return root


def _hits(context_dir: Path, gated: bool, monkeypatch) -> list[tuple]:
    model_context.clear_caches()
    if not gated:
        monkeypatch.setattr(secrets, "engine_gate", lambda path: True)
    else:
        monkeypatch.undo()
    context = BuildContext.load(str(context_dir))
    if context is None:
        return []
    found = secrets.context_secrets(context)
    return [(rel, hit.line, hit.kind, hit.title, hit.value) for rel, hit in found.hits]


def _contexts(tmp_path: Path) -> list[Path]:
    folders = sorted(p for p in FIXTURES.iterdir() if p.is_dir())
    rng = random.Random(14)
    folders += [cold_scan_bench.make_submission(tmp_path / "bench", i, rng) for i in range(10)]
    folders.append(_planted_submission(tmp_path / "planted"))
    return folders


def test_gated_scan_equals_detect_secrets_on_every_file(tmp_path, monkeypatch) -> None:
    engine_found = 0
    for folder in _contexts(tmp_path):
        every = _hits(folder, gated=False, monkeypatch=monkeypatch)
        gated = _hits(folder, gated=True, monkeypatch=monkeypatch)
        assert gated == every, folder.name
        engine_found += sum(1 for h in every if h[3] in secrets.DETECT_SECRETS_TITLES.values()
                            or h[2] in ("aws-access-key-id", "other-secret", "jwt"))
    assert engine_found >= 10  # detect-secrets really ran and found the planted values


def test_gate_rules_out_only_files_where_no_plugin_reports(tmp_path) -> None:
    """File by file: detect-secrets finds nothing wherever the gate says it cannot."""
    planted = _planted_submission(tmp_path / "planted")
    rng = random.Random(3)
    bench = cold_scan_bench.make_submission(tmp_path / "bench", 0, rng)
    files = [p for folder in (planted, bench) for p in folder.rglob("*") if p.is_file()]
    ruled_out = [str(p) for p in files if not may_report(str(p))]
    assert ruled_out  # the gate does skip files (the bench code, the clean YAML)
    assert secrets.detect_secrets_hits(ruled_out) == []
    kept = [str(p) for p in files if may_report(str(p))]
    assert {Path(p).name for p in kept} >= {"plain.py", "notes.txt", "config.yaml", "setup.cfg",
                                          "app.ini", "pairs.txt"}


def test_rewritten_yaml_with_escapes_goes_to_detect_secrets(tmp_path) -> None:
    # `\x70assword` is `password` once YAML unescapes it: only detect-secrets can tell.
    path = tmp_path / "c.yaml"
    path.write_text('k: "\\x41KIA' + "A" * 16 + '"\n')
    assert may_report(str(path))
    path.write_text("k: plain value\n")
    assert not may_report(str(path))


def test_undecodable_files_are_skipped_as_detect_secrets_skips_them(tmp_path) -> None:
    path = tmp_path / "blob.txt"
    path.write_bytes(b"\xff\xfe password = 'hunter2hunter2hunter2'\n")
    assert not may_report(str(path))
    assert secrets.detect_secrets_hits([str(path)]) == []


def test_gate_data_matches_the_installed_detect_secrets() -> None:
    """Fails when detect-secrets (or Carpenter's plugin selection) changed without
    `python -m carpenter.scan.secret_gate_build` being run."""
    assert build_main(["--check"]) == 0


@pytest.mark.parametrize("leak", [True, False])
def test_scan_imports_neither_detect_secrets_nor_requests(tmp_path, leak) -> None:
    """A submission whose only secret is a Hugging Face token (Carpenter's own shape) or
    none at all is scanned without importing detect-secrets or requests."""
    sub = cold_scan_bench.make_submission(tmp_path, 0 if leak else 1, random.Random(14))
    assert (sub / "src" / "login.py").exists() == leak
    code = textwrap.dedent(f"""\
        import runpy, sys
        sys.argv = ["carpenter", "scan", "--no-cache", {str(sub)!r}]
        try:
            runpy.run_module("carpenter.cli", run_name="__main__")
        except SystemExit:
            pass
        print(" ".join(sorted(sys.modules)), file=sys.stderr)
        """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    modules = set(done.stderr.strip().splitlines()[-1].split())
    assert ("SEC002" in done.stdout) == leak  # the token was found without detect-secrets
    assert "detect_secrets" not in modules
    assert "requests" not in modules
