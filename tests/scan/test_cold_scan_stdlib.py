"""A cold scan of a typical submission imports no standard-library module it does not use
(issue 14), nor the packages whose `__init__` would pull them in.

Each of these cost a cold scan 1-5 ms (pathlib with fnmatch, ntpath, urllib.parse and
ipaddress; tomllib, now behind checksummed JSON twins; importlib.resources with tempfile,
shutil, bz2, lzma and random, imported by tree_sitter_bash's `__init__`), and the docker SDK
(requests, urllib3, ssl: ~0.4G instructions) for a `.dockerignore` with a `**` pattern. A
later eager import of any of them fails this test; import it inside the function that needs it.

The scan runs under `python -S` with the dependencies on PYTHONPATH: site's .pth files (an
editable install's import finder imports pathlib) are not processed, as for an installed wheel.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "submissions"
sys.path.insert(0, str(ROOT / "bench"))
import cold_scan_bench  # noqa: E402

AVOIDED = ("pathlib", "urllib.parse", "ipaddress", "tomllib", "shlex", "importlib.resources",
           "tempfile", "shutil", "bz2", "lzma", "random", "tree_sitter_bash", "docker",
           "requests")
# Typical submissions among the fixtures, each with what shows that its scan did the work that
# once imported an avoided module (a finding, or a module only that work imports).
TYPICAL = {
    "cuda-flash-attn": "CUDA001",  # CUDA facts (cuda_extensions.toml)
    "dl-hub-downloads": "DL001",  # gated models (gated_models.toml), scripts (shlex once)
    "pip-wrappers": "PIP001",  # sh -c strings: the bash grammar
    "qlora-cuda-unpinned": "APT001",
    "multistage-requirements": "PIP002",
    "ctx-dockerignore-doublestar": "CTX002",  # `**`: the docker SDK's glob translation
}


def _modules_after_scan(paths: list[Path], cwd: Path,
                        cache: Path | None = None) -> tuple[set[str], str]:
    """The modules loaded by one `carpenter scan` of `paths` (--no-cache unless `cache`), and
    its output."""
    options = ["--cache-dir", str(cache)] if cache else ["--no-cache"]
    code = textwrap.dedent(f"""\
        import sys
        sys.argv = ["carpenter", "scan", *{options!r}, *{[str(p) for p in paths]!r}]
        try:
            from carpenter.launch import main
            main()
        except SystemExit:
            pass
        print(" ".join(sorted(sys.modules)), file=sys.stderr)
        """)
    where = sysconfig.get_paths()
    path = [str(ROOT), where["purelib"], where["platlib"]]
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                          cwd=cwd, check=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(path)})
    return set(done.stderr.strip().splitlines()[-1].split()), done.stdout


@pytest.mark.parametrize("name", sorted(TYPICAL))
def test_a_typical_fixture_scan_imports_no_avoided_module(tmp_path: Path, name: str) -> None:
    # A copy outside the checkout: Carpenter's own pyproject.toml above a fixture is a config
    # file candidate (read with tomllib), as no submission's parent folder usually is.
    sub = shutil.copytree(FIXTURES / name, tmp_path / name)
    modules, out = _modules_after_scan([sub], tmp_path)
    assert TYPICAL[name] in out
    assert "carpenter.scan.rules.pip004_third_party_index" in modules  # every rule ran
    if "RUN " in (sub / "Dockerfile").read_text(encoding="utf-8"):
        assert "tree_sitter" in modules  # RUN lines went through the bash grammar
    assert sorted(m for m in AVOIDED if m in modules) == []


def test_a_bench_submission_scan_imports_no_avoided_module(tmp_path: Path) -> None:
    """The submissions of bench/cold_scan_bench.py (Dockerfile and ~20 context files); the
    first of them leaks a token (detect-secrets is not imported: its plugins cannot match)."""
    rng = random.Random(11)
    subs = [cold_scan_bench.make_submission(tmp_path, index, rng) for index in range(3)]
    modules, out = _modules_after_scan(subs, tmp_path)
    assert "CUDA001" in out and "SEC002" in out
    assert sorted(m for m in AVOIDED if m in modules) == []


def test_a_cached_scan_imports_no_avoided_module(tmp_path: Path) -> None:
    """The result cache's stamps (Carpenter's code and data folders) walk strings too: the
    first scan stores, the second reuses."""
    sub = cold_scan_bench.make_submission(tmp_path, 1, random.Random(3))
    for _ in range(2):
        modules, out = _modules_after_scan([sub], tmp_path, tmp_path / "cache")
        assert "carpenter.scan.cache" in modules and "CUDA001" in out
        assert sorted(m for m in AVOIDED if m in modules) == []
    assert any((tmp_path / "cache").iterdir())  # the first scan stored its result


def test_the_avoided_modules_are_really_avoidable() -> None:
    """Guard against the test passing vacuously: none of them is imported by the interpreter's
    own start-up under -S."""
    done = subprocess.run([sys.executable, "-S", "-c", "import sys; print(*sys.modules)"],
                          capture_output=True, text=True, check=True)
    assert not set(AVOIDED) & set(done.stdout.split())
