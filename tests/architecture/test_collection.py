"""Every test file is collected: pytest's default norecursedirs once hid 86 tests in
tests/build/. This fails when any tests/**/test_*.py file yields no collected test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_file_is_collected() -> None:
    files = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")
             if "cases" not in p.relative_to(ROOT / "tests").parts}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests"], capture_output=True, text=True, cwd=ROOT, check=False, timeout=600)
    collected = {line.split("::", 1)[0] for line in done.stdout.splitlines() if "::" in line}
    assert files, "no test files found"
    assert sorted(files - collected) == [], done.stdout[-2000:] + done.stderr[-2000:]


def test_no_test_folder_has_a_name_pytest_skips() -> None:
    # pytest's default norecursedirs: a folder with one of these names is silently skipped.
    skipped = {"build", "dist", "venv", "node_modules", "CVS", "_darcs", "{arch}"}
    bad = [str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("*")
           if p.is_dir() and any(p.rglob("test_*.py"))
           and (p.name in skipped or p.name.startswith(".") or p.name.endswith(".egg"))]
    assert bad == []
