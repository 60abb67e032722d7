"""The pip closure of each stage: collected from every install line, resolved at the cut-off,
written back inside the submission's own ranges and locked as constraints (issue 11)."""

from __future__ import annotations

import gzip
import socket
from datetime import UTC, datetime

import pytest

from carpenter.fix.closure import base_facts, resolve_stages, stage_inputs
from carpenter.fix.engine import FixOptions, fix_paths
from carpenter.fix.output import write_in_place
from carpenter.model.dockerfile import load_dockerfile
from carpenter.snapshot.create import parse_pins
from carpenter.snapshot.index import Release, format_index, load_index, parse_index
from carpenter.snapshot.pypi import first_uploads

from .helpers import after, bundled, make_snapshot, submission

CUTOFF = datetime(2023, 10, 26, tzinfo=UTC)
STARTER = ("FROM python:3.10-slim\nCOPY requirements.txt .\n"
           "RUN pip install -r requirements.txt && pip install 'fastapi>=0.68.0,<0.69.0' peft\n")


def _pypi() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


needs_pypi = pytest.mark.skipif(not _pypi(), reason="needs network access to PyPI")


def _lock(report) -> str:
    return next(f.after for f in report.files if f.path.endswith("carpenter-constraints.txt"))


# -- base images --------------------------------------------------------------------------

@pytest.mark.parametrize(("ref", "python", "torch"), [
    ("pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel", "3.10", "2.1.0"),
    ("docker.io/pytorch/pytorch:2.0.1-cuda11.7-cudnn8-runtime@sha256:" + "a" * 64, "3.10",
     "2.0.1"),
    ("nvcr.io/nvidia/pytorch:23.10-py3", "3.10", "2.1.0"),
    ("python:3.11-slim", "3.11", None),
    ("nvidia/cuda:12.1.0-devel-ubuntu22.04", "3.10", None),
])
def test_base_table_gives_python_and_preinstalled_torch(ref, python, torch):
    facts = base_facts(ref)
    assert facts is not None and facts.python == python
    assert facts.preinstalled.get("torch") == torch


def test_unknown_base_has_no_entry():
    assert base_facts("example.org/team/custom:latest") is None


# -- collecting a stage's requirement set ---------------------------------------------------

def test_stage_set_reaches_copied_files_project_metadata_extras_markers_and_vcs(tmp_path):
    df = submission(
        tmp_path, "FROM python:3.11-slim AS base\nWORKDIR /app\nCOPY reqs/ reqs/\n"
        "RUN pip install -r reqs/main.txt -c reqs/pins.txt\n"
        "FROM base\nCOPY pyproject.toml .\n"
        "RUN pip install '.[train]' \"rich; python_version>'3.8'\" "
        "git+https://github.com/org/tool\n",
        **{"reqs__main.txt": "-r more.txt\ntransformers[torch]>=4.30\n",
           "reqs__more.txt": "datasets\n", "reqs__pins.txt": "numpy==1.26.1\n",
           "pyproject.toml": "[project]\nname='x'\nversion='1'\ndependencies=['peft>=0.5']\n"
                             "[project.optional-dependencies]\ntrain=['accelerate']\n"})
    inputs = stage_inputs(load_dockerfile(str(df), str(df)), str(tmp_path))
    assert [i.stage.index for i in inputs] == [0, 1]
    first, second = inputs
    assert first.requirements == ["transformers[torch]>=4.30", "datasets"]
    assert first.constraints == ["numpy==1.26.1"]
    # the later stage inherits what `FROM base` installed, plus its own lines
    assert second.requirements == ["transformers[torch]>=4.30", "datasets", "peft>=0.5",
                                   "accelerate", "rich; python_version > \"3.8\""]
    assert second.unresolved == ["git+https://github.com/org/tool"]
    assert second.base == "python:3.11-slim"


# -- the dated index view -------------------------------------------------------------------

def test_dated_index_round_trips_and_skips_yanked_and_prereleases():
    when = datetime(2021, 10, 5, 12, 0, tzinfo=UTC)
    text = format_index("2023-10-26T00:00:00Z", {"fastapi": [
        Release(*args) for args in [("0.68.1", when), ("0.68.2", when), ("0.68.3", when, True),
                                    ("0.69.0b1", when), ("0.69.0", when)]]})
    index = parse_index(text)
    assert str(index.newest("FastAPI", ">=0.68.0,<0.69.0").version) == "0.68.2"
    assert str(index.newest("fastapi").version) == "0.69.0"
    assert index.newest("fastapi", "<0.68") is None


def test_bundled_snapshot_has_a_dated_index_up_to_its_cutoff():
    index = load_index(bundled().path)
    assert index is not None and len(index.releases) == len(bundled().pypi)
    assert all(r.uploaded < CUTOFF for rs in index.releases.values() for r in rs)
    # fastapi 0.104.0 was the newest on the date, but 0.68.x was still served
    assert str(index.newest("fastapi", ">=0.68.0,<0.69.0").version) == "0.68.2"
    raw = gzip.decompress(bundled().path.with_name("neurips-2023.index.txt.gz").read_bytes())
    assert raw.startswith(b"# dated index view")


# -- offline ---------------------------------------------------------------------------------

def test_offline_range_gets_newest_in_range_version_of_the_date(tmp_path):
    """Regression (issue 11): a range the snapshot's version misses was given up on."""
    df = submission(tmp_path, STARTER, **{"requirements.txt": "uvicorn\n"})
    report = fix_paths([str(tmp_path)], FixOptions(bundled()))
    new = after(report, df)
    assert "'fastapi==0.68.2' peft==0.5.0" in new
    assert not [r for r in report.skipped if r.category == "unpinned-pip"]
    fastapi = next(r for r in report.applied if "fastapi" in r.summary)
    assert "not checked by a resolver" in fastapi.summary
    assert any("not checked by a resolver" in n for n in report.notes)
    lock = _lock(report)
    assert "NOT checked by a resolver" in lock and "fastapi==0.68.2  # index\n" in lock
    # the snapshot's starlette belongs to fastapi 0.104: pinning it would break the build
    assert "\nstarlette==" not in lock


def test_offline_lock_keeps_the_closure_of_what_the_chosen_version_does_not_touch(tmp_path):
    """Regression (issue 11): offline, one version outside the snapshot (fastapi 0.68.2 for
    `<0.69`) emptied the lock down to the written names, so peft's torch, transformers and
    numpy floated to today's releases. Now only what fastapi requires (by the snapshot's
    requirement graph) loses its exact pin, and gets a bound of the date instead."""
    submission(tmp_path, STARTER, **{"requirements.txt": "uvicorn\n"})
    report = fix_paths([str(tmp_path)], FixOptions(bundled()))
    pins = parse_pins(_lock(report))
    assert {k: pins.get(k) for k in ("numpy", "transformers", "torch", "safetensors")} == {
        "numpy": "1.26.1", "transformers": "4.34.1", "torch": "2.1.0", "safetensors": "0.4.0"}
    lock = _lock(report)
    assert "numpy==1.26.1  # snapshot\n" in lock
    for below_fastapi in ("starlette<=0.31.1", "pydantic<=2.4.2", "anyio<=4.0.0"):
        assert f"{below_fastapi}  # bound\n" in lock  # the newest release of the date
    assert "pydantic==" not in lock
    note = next(n for n in report.notes if "stage 0" in n)
    assert "1 from the dated index view (not checked by a resolver)" in note
    assert "(fastapi) may need other versions" in note


@pytest.mark.parametrize("extra", ["", " pydantic", " xformers"])
def test_offline_fix_write_is_idempotent_next_to_changed_versions(tmp_path, extra):
    submission(tmp_path, STARTER.replace("peft\n", f"peft{extra}\n"),
               **{"requirements.txt": "uvicorn\n"})
    write_in_place(fix_paths([str(tmp_path)], FixOptions(bundled())).files)
    assert "# bound" in (tmp_path / "carpenter-constraints.txt").read_text()
    again = fix_paths([str(tmp_path)], FixOptions(bundled()))
    assert [f.path for f in again.files if f.changed] == []


def test_offline_a_written_line_below_a_changed_version_is_left_alone(tmp_path):
    """pydantic is written too: the snapshot's 2.4.2 would clash with fastapi 0.68.2
    (pydantic<2), and offline nothing says which pydantic fits, so the line stays open."""
    df = submission(tmp_path, "FROM python:3.10-slim\n"
                    "RUN pip install 'fastapi>=0.68.0,<0.69.0' pydantic\n")
    report = fix_paths([str(tmp_path)], FixOptions(bundled()))
    assert "pydantic\n" in after(report, df) and "'fastapi==0.68.2'" in after(report, df)
    reason = next(r.reason for r in report.skipped if "pydantic" in r.message)
    assert "(fastapi) may need other versions" in reason and "<=2.4.2" in reason
    assert "pydantic<=2.4.2  # bound" in _lock(report)


def test_offline_base_with_another_torch_bounds_what_torch_requires(tmp_path):
    """The pytorch 2.0.1 image ships torch 2.0.1, not the snapshot's 2.1.0: the snapshot's
    triton 2.1.0 (torch 2.1's) and xformers 0.0.22.post7 (which pins torch==2.1.0) must not
    be pinned next to it; what neither requires nor is required by torch keeps its pin."""
    df = submission(tmp_path, "FROM pytorch/pytorch:2.0.1-cuda11.7-cudnn8-runtime\n"
                    "RUN pip install peft transformers xformers\n")
    report = fix_paths([str(tmp_path)], FixOptions(bundled()))
    lock = _lock(report)
    assert "\ntriton<=2.1.0  # bound" in lock and "\nxformers<=0.0.22.post7  # bound" in lock
    assert "\ntriton==" not in lock and "\nxformers==" not in lock
    assert "transformers==4.34.1  # snapshot" in lock and "safetensors==0.4.0  # snapshot" in lock
    assert "\nnumpy<=1.26.1  # bound" in lock  # torchvision requires it
    assert "\ntorch=" not in lock and "\ntorch<" not in lock  # the base ships it
    # peft requires torch: its line is left to pip, inside the bound of the date
    assert "peft<=0.5.0  # bound" in lock
    # before: `xformers==0.0.22.post7`, which requires torch==2.1.0: the build failed
    assert "pip install peft transformers==4.34.1 xformers\n" in after(report, df)


def test_offline_exact_pin_of_an_unknown_version_bounds_the_whole_snapshot(tmp_path):
    """Nothing is known offline about what `made-up-pkg==1.0` requires: no exact pin of the
    snapshot is safe next to it, so all of them become bounds of the date."""
    df = submission(tmp_path, "FROM python:3.10-slim\n"
                    "RUN pip install made-up-pkg==1.0 peft\n")
    report = fix_paths([str(tmp_path)], FixOptions(bundled()))
    lock = _lock(report)
    assert "peft==0.5.0  # snapshot" not in lock and "numpy<=1.26.1  # bound" in lock
    assert "peft\n" in after(report, df)  # left alone, with the reason
    reason = next(r.reason for r in report.skipped if "peft" in r.message)
    assert "what made-up-pkg require" in reason


def test_offline_exact_pin_released_after_the_cutoff_is_said_and_bounded_around(tmp_path):
    """transformers==4.99.0 is not among the releases of the date: the output says so, and
    what requires transformers gets a bound (peft's line is left alone); a later release
    asks no less of what it requires than the date had, so tokenizers keeps its pin."""
    df = submission(tmp_path, "FROM python:3.10-slim\n"
                    "RUN pip install transformers==4.99.0 peft uvicorn\n")
    report = fix_paths([str(tmp_path)], FixOptions(bundled()))
    assert "transformers==4.99.0 peft uvicorn==0.23.2\n" in after(report, df)
    assert any("transformers==4.99.0 is not among the releases" in n for n in report.notes)
    lock = _lock(report)
    assert "\ntokenizers==0.14.1  # snapshot" in lock and "\npeft<=0.5.0  # bound" in lock
    assert "\nuvicorn==0.23.2  # snapshot" in lock and "\ntransformers" not in lock


def test_offline_snapshot_without_a_graph_bounds_instead_of_dropping(tmp_path):
    submission(tmp_path, "FROM python:3.10-slim\nRUN pip install 'peft<0.5' torch\n")
    snapshot = make_snapshot()  # no bundled graph or index next to it
    closure = resolve_stages(load_dockerfile(str(tmp_path / "Dockerfile"), "Dockerfile"),
                             str(tmp_path), snapshot, False)[0]
    # no in-range peft known offline: left to pip, and without a graph nothing says what
    # that peft needs, so every other pin of the snapshot is a bound (torch's line too)
    assert "peft" not in closure.pins and "peft" not in closure.bounds
    assert closure.bounds["transformers"] == "4.34.1" and "transformers" not in closure.pins
    assert "torch" in closure.held and closure.bounds["torch"] == "2.1.0"


def test_bundled_requirement_graph_matches_the_snapshot():
    from carpenter.snapshot.graph import load_graph

    graph = load_graph(bundled().path)
    assert graph is not None
    assert set(graph.requires) == set(bundled().pypi) - {"flash-attn", "deepspeed"}
    assert {"starlette", "pydantic"} <= graph.requires["fastapi"]
    assert "numpy" in graph.below(["peft"]) and "numpy" not in graph.below(["fastapi"])
    assert not graph.known("deepspeed")  # dated only (--latest-only): requirements unknown


def test_constraints_strategy_writes_the_lock_when_nothing_is_flagged(tmp_path):
    """Regression (issue 11): with every line pinned no file was written at all."""
    df = submission(tmp_path, "FROM python:3.10-slim\nRUN pip install peft==0.5.0\n")
    report = fix_paths([str(tmp_path)], FixOptions(bundled(), "constraints"))
    assert not [r for r in report.records if r.category == "unpinned-pip"]  # nothing flagged
    pins = parse_pins(_lock(report))
    assert (pins["peft"], pins["torch"]) == ("0.5.0", "2.1.0")
    assert "ENV PIP_CONSTRAINT=/etc/carpenter-constraints.txt" in after(report, df)


def test_constraints_strategy_never_pins_outside_the_submissions_range(tmp_path):
    """Regression (issue 11): the snapshot's fastapi 0.104.0 was written against `<0.69.0`."""
    df = submission(tmp_path, STARTER, **{"requirements.txt": "uvicorn\n"})
    report = fix_paths([str(tmp_path)], FixOptions(bundled(), "constraints"))
    assert "'fastapi>=0.68.0,<0.69.0' peft\n" in after(report, df)  # lines untouched
    pins = parse_pins(_lock(report))
    assert pins["fastapi"] == "0.68.2"


def test_lock_is_idempotent_after_the_base_gets_a_digest(tmp_path):
    """Regression: the lock named the FROM reference, so the digest added by the same run
    changed it on the second run."""
    submission(tmp_path, "FROM python:3.10-slim\nRUN pip install peft\n")
    write_in_place(fix_paths([str(tmp_path)], FixOptions(make_snapshot())).files)
    assert "@sha256:" in (tmp_path / "Dockerfile").read_text()
    again = fix_paths([str(tmp_path)], FixOptions(make_snapshot()))
    assert [f.path for f in again.files if f.changed] == []


def test_package_installed_from_a_wheel_url_is_not_pinned_in_the_lock(tmp_path):
    submission(tmp_path, "FROM python:3.10-slim\nRUN pip install peft "
               "https://example.org/flash_attn-2.3.3-cp310-cp310-linux_x86_64.whl\n")
    report = fix_paths([str(tmp_path)], FixOptions(bundled()))
    lock = _lock(report)
    assert parse_pins(lock)["peft"] == "0.5.0" and "flash-attn" not in lock


@needs_pypi
def test_offline_lock_resolves_today_without_releases_after_the_cutoff(tmp_path):
    """What a build does with the offline fix: resolve the fixed lines against today's PyPI
    with the lock as constraints (uv, no date filter). Before, the lock held 3 pins and 31
    of the 45 resolved packages were released after the cut-off."""
    import subprocess

    from carpenter.snapshot.create import PYPI, find_uv, isolated_env

    submission(tmp_path, STARTER, **{"requirements.txt": "uvicorn\n"})
    report = fix_paths([str(tmp_path)], FixOptions(bundled()))
    (tmp_path / "lock.txt").write_text(_lock(report))
    (tmp_path / "in.txt").write_text("fastapi==0.68.2\npeft==0.5.0\nuvicorn==0.23.2\n")
    done = subprocess.run([find_uv(), "pip", "compile", "in.txt", "-c", "lock.txt",
                           "--no-config", "--index-url", PYPI, "--python-version", "3.10",
                           "--python-platform", "x86_64-unknown-linux-gnu", "--quiet"],
                          cwd=tmp_path, env=isolated_env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    pins = parse_pins(done.stdout)
    assert (pins["numpy"], pins["transformers"], pins["starlette"]) == ("1.26.1", "4.34.1",
                                                                         "0.14.2")
    index = load_index(bundled().path)
    late = {n for n, v in pins.items() if n in index
            and all(str(r.version) != v for r in index.releases[n])}
    assert late <= {"pydantic"}  # a 1.10.x backport released later fits `<=2.4.2`


def test_a_github_install_the_fix_replaces_is_resolved_as_that_release(tmp_path):
    """Regression: `pip install git+https://github.com/huggingface/peft` became peft==0.5.0
    (the PyPI release of the date), but the closure had left the URL out, so online the first
    run wrote no lock and the second run did: `fix --write` was not idempotent."""
    from carpenter.snapshot.lookup import Lookups

    df = submission(tmp_path, "FROM python:3.10-slim\n"
                    "RUN pip install git+https://github.com/huggingface/peft "
                    "git+https://github.com/org/tool@main\n")
    closure = resolve_stages(load_dockerfile(str(df), str(df)), str(tmp_path), bundled(),
                             False, lookups=Lookups(bundled(), online=False))[0]
    assert closure.inputs.requirements == ["peft==0.5.0"]
    assert closure.inputs.unresolved == ["git+https://github.com/org/tool@main"]


@needs_pypi
def test_online_fix_of_a_github_install_is_idempotent(tmp_path):
    submission(tmp_path, "FROM python:3.10-slim\n"
               "RUN pip install git+https://github.com/huggingface/peft\n")
    first = fix_paths([str(tmp_path)], FixOptions(bundled(), online=True))
    assert "peft==0.5.0" in after(first, tmp_path / "Dockerfile")
    assert parse_pins(_lock(first))["torch"] == "2.1.0"  # peft's closure, on the first run
    write_in_place(first.files)
    again = fix_paths([str(tmp_path)], FixOptions(bundled(), online=True))
    assert [f.path for f in again.files if f.changed] == []


UV_STAGE = ("FROM python:3.11-slim\nRUN pip install uv\nCOPY requirements.txt .\n"
            "RUN uv pip install --system -r requirements.txt 'fastapi>=0.68.0,<0.69.0'\n")


def test_an_installer_stays_out_of_the_stages_resolution(tmp_path):
    """Regression (bench/closure_bench.py): `pip install uv` joined the stage's set, and uv
    had no release before 2024, so every line of a 2023 stage was refused as unsatisfiable."""
    df = submission(tmp_path, UV_STAGE, **{"requirements.txt": "peft>=0.5\n"})
    inputs = stage_inputs(load_dockerfile(str(df), str(df)), str(tmp_path))
    assert sorted(inputs[0].requirements) == ["fastapi<0.69.0,>=0.68.0", "peft>=0.5"]


# -- online: a real resolver at the cut-off (PyPI) --------------------------------------------

@needs_pypi
def test_online_a_stage_that_installs_uv_first_still_resolves_at_a_2023_cutoff(tmp_path):
    df = submission(tmp_path, UV_STAGE, **{"requirements.txt": "peft>=0.5\n"})
    report = fix_paths([str(tmp_path)], FixOptions(bundled(), online=True))
    assert not report.errors
    text = after(report, df)
    assert "'fastapi==0.68.2'" in text and "RUN pip install uv\n" in text
    assert "peft==0.5.0\n" in after(report, tmp_path / "requirements.txt")
    assert "uv: not in snapshot" in next(r.reason for r in report.skipped if "uv" in r.message)

@needs_pypi
def test_online_closure_stays_in_range_and_freezes_transitive_dependencies(tmp_path):
    df = submission(tmp_path, STARTER, **{"requirements.txt": "uvicorn\n"})
    closures = resolve_stages(load_dockerfile(str(df), str(df)), str(tmp_path), bundled(), True)
    assert len(closures) == 1 and closures[0].checked and not closures[0].error
    pins = closures[0].pins
    assert pins["fastapi"] == "0.68.2" and pins["starlette"] == "0.14.2"  # fastapi's own pin
    assert pins["peft"] == "0.5.0" and pins["numpy"].startswith("1.")  # no numpy 2 in 2023
    uploaded = first_uploads({k: pins[k] for k in ("fastapi", "starlette", "numpy", "pydantic")},
                             "https://pypi.org/simple")
    assert all(t is not None and t < CUTOFF for t in uploaded.values())
    report = fix_paths([str(tmp_path)], FixOptions(bundled(), online=True))
    fastapi = next(r for r in report.applied if "fastapi" in r.summary)
    assert "resolved by uv at 2023-10-26T00:00Z" in fastapi.summary
    assert "starlette==0.14.2\n" in _lock(report)


@needs_pypi
def test_online_conflicting_pins_are_explained_and_left_alone(tmp_path):
    df = submission(tmp_path, "FROM python:3.10-slim\n"
                    "RUN pip install fastapi==0.68.2 starlette==0.27.0 uvicorn\n")
    report = fix_paths([str(tmp_path)], FixOptions(bundled(), online=True))
    assert "uvicorn\n" in after(report, df) if report.files else True
    reason = next(r.reason for r in report.skipped if "uvicorn" in r.message)
    assert "cannot be satisfied together" in reason and "starlette" in reason
    assert not [f for f in report.files if f.path.endswith("carpenter-constraints.txt")]
    assert any("uv says" in n for n in report.notes)


@pytest.mark.parametrize("line", ["Flash_Attn~=0.1", "Flash_Attn==0.0.1", "flash-attn==2.3.3"])
def test_lock_is_idempotent_when_a_cuda_fix_turns_the_line_into_a_wheel(tmp_path, line):
    """Regression (found by tests/fix/test_properties.py): the CUDA fix replaced the line by a
    wheel URL, so the second run resolved another set and rewrote the lock."""
    submission(tmp_path, f"FROM python:3.10-slim\nRUN pip install {line}\n")
    first = fix_paths([str(tmp_path)], FixOptions(make_snapshot()))
    write_in_place(first.files)
    assert "flash_attn-2.3.3" in (tmp_path / "Dockerfile").read_text()
    assert "flash-attn" not in (tmp_path / "carpenter-constraints.txt").read_text()
    again = fix_paths([str(tmp_path)], FixOptions(make_snapshot()))
    assert [f.path for f in again.files if f.changed] == []


def test_lock_and_apt_fix_both_apply_in_one_run(tmp_path):
    """Regression (found by tests/fix/test_properties.py): both inserted after the FROM line,
    so the lock lost and appeared only on a second run."""
    df = submission(tmp_path, "FROM python:3.10-slim\nRUN apt-get update && apt-get install -y "
                    "--no-install-recommends git curl\nRUN pip install torch\n")
    first = fix_paths([str(tmp_path)], FixOptions(make_snapshot()))
    new = after(first, df)
    assert "snapshot.debian.org" in new
    assert "ENV PIP_CONSTRAINT=/etc/carpenter-constraints.txt UV_CONSTRAINT=" \
        "/etc/carpenter-constraints.txt\nRUN pip install torch==2.1.0\n" in new
    write_in_place(first.files)
    again = fix_paths([str(tmp_path)], FixOptions(make_snapshot()))
    assert [f.path for f in again.files if f.changed] == []
