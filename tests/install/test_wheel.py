"""A wheel installed outside the checkout behaves exactly like the editable install.

Data ships inside the package (carpenter/data, read with importlib.resources): before, only
an editable install found the repository's rules/ folder, and `pip install .` gave a
Carpenter whose `fix` exited 2 ("bundled: none") and whose SEC001-003 and CUDA rules failed.
The wheel's dependencies come from this interpreter's site-packages (no network), added to
a fresh virtual environment as a plain path, so nothing of the checkout can leak in.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "submissions"
SAMPLES = ["sec-env-arg-tokens", "pip-wrappers", "cuda-flash-attn", "sec-context-files"]


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The `carpenter` script of a fresh venv holding only the built wheel."""
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(dist), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next(dist.glob("carpenter-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
         "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=300, env={**_env(), "PIP_CONFIG_FILE": "/dev/null"})
    assert done.returncode == 0, done.stderr[-2000:]
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True)
    # A plain path line: .pth files in the dependencies' folder (the editable finder of the
    # checkout) are not processed, so `carpenter` can only come from the wheel.
    Path(site.stdout.strip(), "zz-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin" / "carpenter"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "CARPENTER_"))}
    env["CARPENTER_NO_CACHE"] = "1"
    return env


def _both(installed: Path, tmp_path: Path, *args: str) -> tuple:
    work = tmp_path / "work"
    if not work.exists():
        work.mkdir()
        for name in SAMPLES:
            shutil.copytree(FIXTURES / name, work / name)
    editable = _run([sys.executable, "-P", "-m", "carpenter.cli", *args], work,
                    {**_env(), "PYTHONPATH": str(ROOT)})
    wheel = _run([str(installed), *args], work, _env())
    return editable, wheel


def test_the_wheel_imports_from_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    python = installed.parent / "python"
    where = _run([str(python), "-c", "import carpenter.core.resources as r, carpenter; "
                  "print(carpenter.__file__); print(r.data_dir())"], tmp_path, _env())
    assert where.returncode == 0, where.stderr
    module, data = where.stdout.split()
    assert not module.startswith(str(ROOT)) and not data.startswith(str(ROOT))
    assert Path(data, "secrets.toml").is_file()
    assert Path(data, "snapshots", "neurips-2023.toml").is_file()


def test_the_wheel_ships_fresh_json_twins(installed: Path, tmp_path: Path) -> None:
    """The scan's TOML data is read from its JSON twins (core.tomldata) in the wheel too."""
    code = ("import sys\nfrom carpenter.core.resources import data_file\n"
            "from carpenter.core.tomldata import load_toml_data\n"
            "from carpenter.core.tomldata_build import TWINNED\n"
            "for name in TWINNED: load_toml_data(data_file(name))\n"
            "assert 'tomllib' not in sys.modules, 'a twin is missing or stale'\n")
    done = _run([str(installed.parent / "python"), "-c", code], tmp_path, _env())
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("args", [
    ("rules", "--format", "json"),
    ("scan", *SAMPLES, "--format", "json"),
    ("scan", *SAMPLES, "--format", "sarif"),
    ("fix", *SAMPLES, "--format", "json"),
    ("fix", "pip-wrappers"),
    ("snapshot", "show"),
])
def test_the_wheel_behaves_like_the_editable_install(installed, tmp_path, args) -> None:
    editable, wheel = _both(installed, tmp_path, *args)
    assert editable.returncode in (0, 1), editable.stderr[-2000:]
    # `snapshot show` names the snapshot file: the only place an install location shows.
    site_data = str(installed.parents[1] / "lib")
    def same(text: str) -> str:
        text = text.replace(str(ROOT / "carpenter" / "data"), "<data>")
        return re.sub(re.escape(site_data) + r"/python3\.\d+/site-packages/carpenter/data",
                      "<data>", text)
    assert (wheel.returncode, same(wheel.stdout), same(wheel.stderr)) == (
        editable.returncode, same(editable.stdout), same(editable.stderr))


def test_the_wheels_console_script_serves_scans(installed: Path, tmp_path: Path) -> None:
    # The script pip wrote goes through carpenter.launch; a server started with it (warm-up
    # sample read from the installed data) serves the same bytes as the editable install.
    assert "from carpenter.launch import main" in installed.read_text()
    runtime = Path(tempfile.mkdtemp(prefix="carp-", dir="/tmp"))  # socket paths are short
    env = {**_env(), "CARPENTER_RUNTIME_DIR": str(runtime / "run")}
    try:
        started = _run([str(installed), "server", "start"], tmp_path, env)
        assert started.returncode == 0, started.stderr
        editable, _ = _both(installed, tmp_path, "scan", *SAMPLES, "--format", "json")
        served = _run([str(installed), "scan", *SAMPLES, "--format", "json"],
                      tmp_path / "work", env)
        status = _run([str(installed), "server", "status"], tmp_path, env)
        assert "requests served: 3" in status.stdout  # start's own check, the scan, this
        assert (served.returncode, served.stdout, served.stderr) == \
            (editable.returncode, editable.stdout, editable.stderr)
    finally:
        _run([str(installed), "server", "stop"], tmp_path, env)
        shutil.rmtree(runtime, ignore_errors=True)
