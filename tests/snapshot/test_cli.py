"""`carpenter snapshot show|diff` and the diff model."""

from __future__ import annotations

import json
import subprocess
import sys

from carpenter.snapshot.diff import diff_snapshots
from carpenter.snapshot.model import parse_snapshot

from .test_model import MINIMAL


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "carpenter.cli", "snapshot", *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def test_diff_classifies_changes():
    old = parse_snapshot(MINIMAL)
    new = parse_snapshot(MINIMAL.replace(b'Torch = "2.1.0"', b'Torch = "2.1.2"')
                         .replace(b'transformers = "4.34.1"', b'transformers = "4.33.3"')
                         .replace(b'"Flash_Attn" = "2.3.3"\n', b'peft = "0.5.0"\n'))
    kinds = {(c.section, c.key): c.kind for c in diff_snapshots(old, new)}
    assert kinds == {("pypi", "torch"): "upgraded", ("pypi", "transformers"): "downgraded",
                     ("pypi", "flash-attn"): "removed", ("pypi", "peft"): "added"}
    assert diff_snapshots(old, old) == []


def test_show_and_diff_on_the_command_line(tmp_path):
    shown = run("show", "neurips-2023", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["as_of"] == "2023-10-25" and info["counts"]["pypi"] >= 150
    old = tmp_path / "old.toml"
    old.write_bytes(MINIMAL)
    new = tmp_path / "new.toml"
    new.write_bytes(MINIMAL.replace(b'Torch = "2.1.0"', b'Torch = "2.1.2"'))
    changed = run("diff", str(old), str(new))
    assert changed.returncode == 1 and "upgraded   pypi: torch 2.1.0 -> 2.1.2" in changed.stdout
    assert run("diff", str(old), str(old)).returncode == 0
    missing = run("show", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_create_refuses_local_indexes(tmp_path):
    done = run("create", "--as-of", "2023-10-25", "torch", "--index-url", "file:///opt/pypi")
    assert done.returncode == 2 and "escape the date filter" in done.stderr
