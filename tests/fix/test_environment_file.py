"""environment.yml `pip:` lists are part of the stage's pip closure (issue 11).

conda (`conda env create|update -f`, `mamba`, `micromamba create|install -f`) writes the
`pip:` list to a requirements file next to the environment file and runs
`python -m pip install -U -r <it>` there, in a subprocess that inherits the RUN's environment
(conda: `conda.gateways.subprocess.any_subprocess(env=None)`; micromamba: reproc's default
environment), so the stage's PIP_CONSTRAINT applies to it: the lock's COPY + ENV only have to
come before that RUN.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from carpenter.fix.closure import conda_specifier, resolve_stages, stage_inputs
from carpenter.fix.engine import FixOptions, fix_paths
from carpenter.model.conda import parse_spec
from carpenter.model.dockerfile import load_dockerfile
from carpenter.snapshot.create import parse_pins

from .helpers import after, bundled, submission

ENV = """\
name: sub   # the environment
channels:
  - conda-forge
dependencies:
  - python=3.10
  - pip
  - pip:
    # the starter kit's range, kept as a range in the file
    - fastapi>=0.68.0,<0.69.0   # web
    - "peft"
    - -r requirements.txt
    - git+https://github.com/huggingface/peft
"""
DOCKERFILE = ("FROM continuumio/miniconda3:23.5.2-0\nWORKDIR /app\n"
              "COPY environment.yml requirements.txt ./\n"
              "RUN conda env create -f environment.yml\n")


def _pypi() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


needs_pypi = pytest.mark.skipif(not _pypi(), reason="needs network access to PyPI")


def _env_submission(root: Path, env: str = ENV, dockerfile: str = DOCKERFILE) -> Path:
    return submission(root, dockerfile, **{"environment.yml": env,
                                           "requirements.txt": "uvicorn\n"})


def _inputs(root: Path):
    df = root / "Dockerfile"
    return stage_inputs(load_dockerfile(str(df), str(df)), str(root))


# -- collecting --------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [
    "conda env create -f environment.yml",
    "conda env update -n base --file environment.yml",
    "mamba env create -f /app/environment.yml",
    "micromamba install -y -n base -f environment.yml",
    "micromamba create -y -n sub -f ./environment.yml",
    "conda env create",  # reads environment.yml from the working directory
])
def test_pip_list_of_an_environment_file_joins_the_stage_set(tmp_path, command):
    """Regression (issue 11): a stage that installs only through an environment file had no
    closure at all, so its pip: list and everything it pulls in floated."""
    _env_submission(tmp_path, dockerfile=DOCKERFILE.replace(
        "conda env create -f environment.yml", command))
    [inputs] = _inputs(tmp_path)
    assert inputs.requirements == ["fastapi<0.69.0,>=0.68.0", "peft", "uvicorn"]
    assert inputs.unresolved == ["git+https://github.com/huggingface/peft"]
    assert inputs.python == "3.10"
    assert inputs.fresh_env == ("create" in command)
    assert [i.keyword for i in inputs.installers] == ["RUN"]


def test_conda_packages_constrain_the_resolution_and_stay_out_of_the_lock(tmp_path):
    env = ENV.replace("  - pip\n", "  - pip\n  - pytorch=2.0.1\n  - numpy\n  - cudatoolkit=11.8\n")
    _env_submission(tmp_path, env)
    [inputs] = _inputs(tmp_path)
    assert inputs.conda == {"torch": "==2.0.1.*", "numpy": "", "cudatoolkit": "==11.8.*"}
    closure = resolve_stages(load_dockerfile(str(tmp_path / "Dockerfile"), "Dockerfile"),
                             str(tmp_path), bundled(), False)[0]
    # offline: conda's torch 2.0.1 is not the snapshot's, so what needs torch is not pinned
    assert closure.origins["torch"] == "base" and closure.pins["torch"] == "2.0.1"
    assert "torch" not in closure.lock_pins and "numpy" not in closure.lock_pins
    assert "peft" in closure.held  # peft requires torch: left to pip, within the date


@pytest.mark.parametrize(("spec", "pep440"), [
    ("numpy=1.24", "==1.24.*"), ("numpy==1.24.4", "==1.24.4"),
    ("numpy=1.24.4=py310h0", "==1.24.4.*"),
    ("numpy>=1.22,<1.25", "<1.25,>=1.22"), ("numpy 1.24.*", "==1.24.*"), ("numpy", None),
    ("numpy 1.2|1.4", None), ("numpy[version='>=1.22']", ">=1.22"),
])
def test_conda_specs_read_as_pep440(spec, pep440):
    assert conda_specifier(parse_spec(spec, 0, len(spec))) == pep440


def test_a_fresh_environment_holds_nothing_the_base_ships(tmp_path):
    """`conda env create` on a pytorch image: the new environment has no torch, so the
    image's torch must neither constrain the resolution nor be left out of the lock."""
    _env_submission(tmp_path, dockerfile=DOCKERFILE.replace(
        "continuumio/miniconda3:23.5.2-0", "pytorch/pytorch:2.0.1-cuda11.7-cudnn8-runtime"))
    closure = resolve_stages(load_dockerfile(str(tmp_path / "Dockerfile"), "Dockerfile"),
                             str(tmp_path), bundled(), False)[0]
    assert closure.shipped == {} and closure.lock_pins["torch"] == "2.1.0"
    update = DOCKERFILE.replace("continuumio/miniconda3:23.5.2-0",
                               "pytorch/pytorch:2.0.1-cuda11.7-cudnn8-runtime").replace(
        "conda env create -f", "conda env update -n base -f")
    (tmp_path / "Dockerfile").write_text(update)
    closure = resolve_stages(load_dockerfile(str(tmp_path / "Dockerfile"), "Dockerfile"),
                             str(tmp_path), bundled(), False)[0]
    assert closure.shipped["torch"] == "==2.0.1" and "torch" not in closure.lock_pins


# -- end to end: `carpenter fix --write` ------------------------------------------------------

def _cli(*args: str) -> subprocess.CompletedProcess:
    """The real command line, as a user runs it."""
    done = subprocess.run([sys.executable, "-m", "carpenter.cli", "fix", *args],
                          capture_output=True, text=True, timeout=300)
    done.output = done.stdout + done.stderr  # type: ignore[attr-defined]
    return done


def test_fix_write_pins_the_environment_file_in_place_and_locks_its_closure(tmp_path):
    """Regression (issue 11): the pip: list was pinned from the snapshot alone, no lock was
    written and the Dockerfile set no PIP_CONSTRAINT, so peft's torch, transformers and numpy
    floated. Offline (the dated index view), edited line by line: comments, quotes and the
    other lines stay as they were."""
    _env_submission(tmp_path)
    result = _cli("--offline", "--write", str(tmp_path))
    assert result.returncode in (0, 1), result.output
    assert (tmp_path / "environment.yml").read_text() == ENV.replace(
        "  - pip\n", "  - pip=23.3.1\n").replace(
        "fastapi>=0.68.0,<0.69.0   # web", "fastapi==0.68.2   # web").replace(
        '"peft"', '"peft==0.5.0"').replace(
        "git+https://github.com/huggingface/peft", "peft==0.5.0")
    assert (tmp_path / "requirements.txt").read_text() == "uvicorn==0.23.2\n"
    dockerfile = (tmp_path / "Dockerfile").read_text()
    assert ("COPY carpenter-constraints.txt /etc/carpenter-constraints.txt\n"
            "ENV PIP_CONSTRAINT=/etc/carpenter-constraints.txt UV_CONSTRAINT="
            "/etc/carpenter-constraints.txt\nRUN conda env create -f environment.yml\n"
            ) in dockerfile
    pins = parse_pins((tmp_path / "carpenter-constraints.txt").read_text())
    assert {k: pins.get(k) for k in ("fastapi", "peft", "uvicorn", "torch", "numpy")} == {
        "fastapi": "0.68.2", "peft": "0.5.0", "uvicorn": "0.23.2", "torch": "2.1.0",
        "numpy": "1.26.1"}
    again = _cli("--offline", "--write", str(tmp_path))  # a second run is a no-op
    assert "wrote" not in again.output and "0 fix(es) applied" in again.output


@needs_pypi
def test_online_the_environment_files_python_decides_the_resolution(tmp_path):
    """python=3.8: uv resolves for 3.8 (numpy 1.24, the last for 3.8), and the conda
    numpy line gets the same version, so conda and pip agree."""
    env = ENV.replace("python=3.10", "python=3.8").replace("  - pip\n", "  - pip\n  - numpy\n")
    _env_submission(tmp_path, env)
    report = fix_paths([str(tmp_path)], FixOptions(bundled(), online=True))
    closure_note = next(n for n in report.notes if n.startswith("stage 0"))
    assert "Python 3.8" in closure_note and "resolved by uv" in closure_note
    assert "  - numpy=1.24.4\n" in after(report, tmp_path / "environment.yml")
    lock = next(f.after for f in report.files if f.path.endswith("carpenter-constraints.txt"))
    assert "for Python 3.8" in lock and "\nnumpy==" not in lock  # conda's, not pip's
    assert parse_pins(lock)["fastapi"] == "0.68.2"


# -- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "where", "message"), [
    ("dependencies:\n  - pip:\n    - [peft\n", "environment.yml:4: ", "not valid YAML"),
    ("dependencies:\n\t- peft\n", "environment.yml:2: ", "not valid YAML"),
    ("- peft\n", "environment.yml:1: ", "is a YAML mapping"),
    ("dependencies:\n  pip: peft\n", "environment.yml:2: ", "`dependencies:` must be a list"),
    ("dependencies: " + "[" * 20000 + "]" * 20000 + "\n", "environment.yml:1: ",
     "not valid YAML"),
    ("name: x\n" + "#" * 80 + "\n" * 1 + "dependencies: []\n" + "# pad\n" * 200_000,
     "environment.yml", "too large to read"),
])
def test_a_bad_environment_file_is_a_located_error(tmp_path, text, where, message):
    _env_submission(tmp_path, text)
    result = _cli("--offline", "--write", str(tmp_path))
    assert result.returncode == 2
    line = next(x for x in result.output.splitlines() if "environment file:" in x)
    assert where in line and message in line and "Traceback" not in result.output
    assert (tmp_path / "environment.yml").read_text() == text  # never touched


def test_an_alias_bomb_is_read_without_expanding_it(tmp_path):
    """Nine levels of nine aliases is 9**9 strings once expanded; compose keeps nodes."""
    levels = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        levels.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    bomb = "\n".join(levels) + "\ndependencies:\n  - pip:\n    - peft\n  - *i\n"
    _env_submission(tmp_path, bomb)
    start = time.monotonic()
    result = _cli("--offline", str(tmp_path))
    # no timed assertion: the figure is printed for the record, the run must simply finish
    print(f"alias bomb: {time.monotonic() - start:.2f} s")
    assert result.returncode in (0, 1) and "peft==0.5.0" in result.output
