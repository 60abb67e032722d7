"""fix --write never leaves a broken submission: crash recovery of the multi-file write, and
no fix that makes a Dockerfile parse worse."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from carpenter.cli import main
from carpenter.core import files
from carpenter.core.files import JOURNAL, TEMP_MARK, Planned, recover, write_all

TOKEN = "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"


class Killed(BaseException):
    """Stands for kill -9: nothing after it runs, no cleanup (not an Exception)."""


def _plan(folder: Path) -> list[Planned]:
    for name in ("a.txt", "b.txt", "c.txt"):
        (folder / name).write_text(f"old {name}\n")
    return [Planned(folder / name, f"new {name}\n".encode()) for name in
            ("a.txt", "b.txt", "c.txt")]


def _contents(folder: Path) -> set[str]:
    return {(folder / name).read_text().split()[0] for name in ("a.txt", "b.txt", "c.txt")}


def _temps(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if TEMP_MARK in p.name]


def test_crash_between_renames_is_completed_by_recover(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    plan = _plan(tmp_path)
    real_replace = os.replace
    calls = {"n": 0}

    def dying_replace(src, dst):
        calls["n"] += 1
        if calls["n"] == 3:  # the journal, then a.txt renamed; killed before b.txt
            raise Killed
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", dying_replace)
    with pytest.raises(Killed):
        write_all(plan, tmp_path)
    monkeypatch.setattr(files.os, "replace", real_replace)
    assert _contents(tmp_path) == {"old", "new"}  # the mixed state a kill leaves
    assert (tmp_path / JOURNAL).exists() and _temps(tmp_path)
    done = recover(tmp_path)
    assert _contents(tmp_path) == {"new"}
    assert not _temps(tmp_path) and not (tmp_path / JOURNAL).exists()
    assert any("completed" in line for line in done)


def test_crash_before_the_journal_is_rolled_back(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    plan = _plan(tmp_path)

    def dying_journal(journal, temps):
        raise Killed

    monkeypatch.setattr(files, "_write_journal", dying_journal)
    monkeypatch.setattr(files, "_remove", lambda paths: None)  # a kill runs no cleanup
    with pytest.raises(Killed):
        write_all(plan, tmp_path)
    assert len(_temps(tmp_path)) == 3
    recover(tmp_path)
    assert _contents(tmp_path) == {"old"} and not _temps(tmp_path)


def _submission(root: Path) -> Path:
    root.mkdir()
    (root / "requirements.txt").write_text("torch\nnumpy\n")
    (root / "Dockerfile").write_text(
        "FROM python:3.11\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
        "RUN pip install transformers accelerate\n")
    return root


@pytest.mark.parametrize("delay", [0.3, 0.6, 0.9, 1.2])
def test_kill_9_during_fix_write_leaves_old_or_new(tmp_path: Path, delay: float) -> None:
    """A real `fix --write` killed at some point, then a second run: every file old or new as
    one set, no temporary file left."""
    root = _submission(tmp_path / "sub")
    before = {p.name: p.read_text() for p in root.iterdir()}
    proc = subprocess.Popen([sys.executable, "-m", "carpenter.cli", "fix", "--write", "-j", "1",
                             str(root / "Dockerfile")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    subprocess.run([sys.executable, "-m", "carpenter.cli", "fix", "--write", "-j", "1",
                    str(root / "Dockerfile")], capture_output=True, timeout=120)
    after = {p.name: p.read_text() for p in root.iterdir()}
    assert not [name for name in after if TEMP_MARK in name or name == JOURNAL]
    assert after["Dockerfile"] != before["Dockerfile"]  # the second run completed the fix
    assert after["requirements.txt"] != before["requirements.txt"]


def test_fix_refuses_an_output_that_parses_worse(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`ENV HF_TOKEN=<token>` alone: moving the secret out used to leave an empty file."""
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"ENV HF_TOKEN={TOKEN}\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["fix", "--write", "-j", "1", str(dockerfile)])
    assert exit_info.value.code == 2
    assert dockerfile.read_text() == f"ENV HF_TOKEN={TOKEN}\n"
    err = capsys.readouterr().err
    assert "fix refused" in err and TOKEN not in err
