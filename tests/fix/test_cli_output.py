"""`carpenter fix` end to end: diff, --write, --out, --format json, exit codes, bad input."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from carpenter.fix.engine import FileChange
from carpenter.fix.output import encode_like, write_copy, write_in_place

from .helpers import SECRET, submission

DOCKERFILE = ("FROM python:3.10-slim\nCOPY requirements.txt .\n"
              "RUN pip install --no-cache-dir peft -r requirements.txt\n")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "carpenter.cli", "fix", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def make(tmp_path: Path) -> Path:
    return submission(tmp_path / "sub", DOCKERFILE,
                      **{"requirements.txt": "transformers>=4.30\n", "model/notes.md": "x\n"})


def test_default_prints_a_diff_and_changes_nothing(tmp_path):
    df = make(tmp_path)
    done = run("sub", cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    assert "+RUN pip install --no-cache-dir peft==0.5.0 -r requirements.txt" in done.stdout
    assert "+transformers==4.34.1" in done.stdout
    assert df.read_text() == DOCKERFILE


def test_write_is_in_place_and_keeps_permissions(tmp_path):
    df = make(tmp_path)
    os.chmod(df, 0o640)
    done = run("sub", "--write", cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    assert "peft==0.5.0" in df.read_text()
    assert stat.S_IMODE(df.stat().st_mode) == 0o640
    assert not [p for p in df.parent.iterdir() if ".carpenter-" in p.name]  # no temp files left
    again = run("sub", "--write", cwd=tmp_path)
    assert "peft==0.5.0" in df.read_text() and again.stdout == ""


def test_out_writes_a_repaired_copy_and_leaves_the_input(tmp_path):
    df = make(tmp_path)
    done = run("sub", "--out", "fixed", cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    assert df.read_text() == DOCKERFILE
    fixed = tmp_path / "fixed"
    assert "peft==0.5.0" in (fixed / "Dockerfile").read_text()
    assert (fixed / "requirements.txt").read_text() == "transformers==4.34.1\n"
    assert (fixed / "model" / "notes.md").read_text() == "x\n"  # the whole submission
    refused = run("sub", "--out", "fixed", cwd=tmp_path)  # not empty any more
    assert refused.returncode == 2 and "not empty" in refused.stderr


def test_json_lists_applied_and_skipped_with_reasons_and_never_a_secret(tmp_path):
    submission(tmp_path / "sub", f"FROM python:3.10-slim\nENV HF_TOKEN={SECRET}\n"
               "RUN pip install peft left-pad-xyz\n")
    done = run("sub", "--format", "json", cwd=tmp_path)
    assert SECRET not in done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert data["snapshot"] == "neurips-2023" and data["strategy"] == "rewrite"
    skipped = {s["message"].split(" ")[0]: s["reason"] for s in data["skipped"]}
    assert "not in snapshot neurips-2023" in skipped["left-pad-xyz"]
    assert any(a["summary"] == "peft -> peft==0.5.0" for a in data["applied"])
    assert done.returncode == 1  # something was left unfixed


@pytest.mark.parametrize("args,needle", [
    (["missing-dir"], "no such file"),
    (["sub", "--snapshot", "nope"], "no bundled snapshot"),
    (["sub", "--write", "--out", "x"], "exclude each other"),
    (["sub", "--build-arg", "1BAD=x"], "NAME=VALUE"),
])
def test_bad_input_is_a_located_message_and_exit_2(tmp_path, args, needle):
    make(tmp_path)
    done = run(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert needle in done.stderr and "Traceback" not in done.stderr


def test_binary_dockerfile_is_refused_without_partial_writes(tmp_path):
    df = make(tmp_path)
    (df.parent / "Dockerfile.gpu").write_bytes(b"FROM x\x00\x01")
    done = run("sub", "--write", cwd=tmp_path)
    assert done.returncode == 2 and "binary" in done.stderr
    assert df.read_text() == DOCKERFILE  # nothing written when any input failed


def test_crlf_and_bom_survive(tmp_path):
    original = b"\xef\xbb\xbfFROM a\r\nRUN x\r\n"
    assert encode_like(original, "FROM a@sha\nRUN x\n", "f") == \
        b"\xef\xbb\xbfFROM a@sha\r\nRUN x\r\n"


def test_invalid_utf8_is_not_rewritten(tmp_path):
    target = tmp_path / "Dockerfile"
    target.write_bytes(b"FROM a\nLABEL x=\xff\n")
    with pytest.raises(Exception, match="not valid UTF-8"):
        write_in_place([FileChange("Dockerfile", str(target), "FROM a\n", "FROM b\n")])
    assert target.read_bytes() == b"FROM a\nLABEL x=\xff\n"


def test_failed_write_leaves_every_file_untouched(tmp_path):
    good = tmp_path / "a.txt"
    good.write_text("old\n")
    (tmp_path / "plain-file").write_text("")  # a file where a folder is needed: even root fails
    with pytest.raises(Exception, match="cannot write"):
        write_in_place([FileChange("a", str(good), "old\n", "new\n"),
                        FileChange("b", str(tmp_path / "plain-file" / "b.txt"), "", "new\n",
                                   new_file=True)])
    assert good.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "plain-file"]


def test_out_refuses_a_folder_inside_the_submission(tmp_path):
    df = make(tmp_path)
    change = FileChange("Dockerfile", str(df), DOCKERFILE, DOCKERFILE + "# x\n")
    with pytest.raises(Exception, match="inside the submission"):
        write_copy([change], df.parent, df.parent / "out")
