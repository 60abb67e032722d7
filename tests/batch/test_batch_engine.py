"""End to end on the real engine: one submission per verdict, kill -9 + resume, Ray executor."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from carpenter.batch.state import canonical

pytestmark = pytest.mark.engine
ROOT = Path(__file__).resolve().parents[2]
STAGES = "scan,fix,rebuild"
EXPECTED = {"needs-human": "needs-human", "repairable": "repaired",
            "reproducible": "reproducible"}


def batch_cmd(inp: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "carpenter.cli", "batch", str(inp), "--out", str(out),
            "--stages", STAGES, "--jobs", "2", "--max-builds", "1", "--network", "none",
            "--timeout", "300", *extra]


def run_batch(inp: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(batch_cmd(inp, out, *extra), capture_output=True, text=True,
                          timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def verdicts(out: Path) -> dict[str, str]:
    return {r["id"]: r["verdict"] for r in json.loads((out / "results.json").read_text())}


def committed_stages(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("SELECT count(*) FROM stages").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # table not created yet


@pytest.fixture(scope="module")
def uninterrupted(engine, submissions, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("batch") / "out"
    run_batch(submissions, out)
    return out


def test_each_verdict_kind_on_the_real_engine(uninterrupted: Path) -> None:
    assert verdicts(uninterrupted) == EXPECTED
    rows = {r["id"]: r for r in json.loads((uninterrupted / "results.json").read_text())}
    failed = rows["needs-human"]["stages"]["rebuild"]["original"]
    assert failed["failure_class"] == "command-failed"
    # The command's own line names the cause, not the executor's "non-zero code: 3" line.
    assert failed["evidence"].endswith("model missing"), failed
    assert failed["exit_code"] == 3
    repaired = rows["repairable"]["stages"]["rebuild"]
    assert repaired["drift"]["only_original"] == ["six==1.17.0"]
    assert repaired["repaired"]["status"] == "built"
    patch = Path(rows["repairable"]["stages"]["fix"]["patch"])
    assert "+six==1.16.0" in patch.read_text()
    assert (uninterrupted / "report.html").stat().st_size > 1000
    assert (uninterrupted / "results.csv").read_text().count("\n") == 4


def test_kill_9_mid_run_then_resume_equals_uninterrupted(uninterrupted, submissions,
                                                         tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(batch_cmd(submissions, out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        # Some stages committed, not all (3 submissions x 3 stages): kill the whole group.
        while committed_stages(out / "state.db") < 3 and time.monotonic() < deadline:
            assert proc.poll() is None, "the batch ended before it could be killed"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    killed_at = committed_stages(out / "state.db")
    assert 3 <= killed_at < 9
    assert not (out / "report.html").exists()
    second = run_batch(submissions, out)
    # The rerun runs exactly the stages that had no committed row: nothing twice.
    assert f"ran {9 - killed_at} stage(s) in this run" in second.stderr
    assert canonical(out / "state.db") == canonical(uninterrupted / "state.db")
    assert verdicts(out) == verdicts(uninterrupted)
    assert _csv_without_times(out) == _csv_without_times(uninterrupted)


def _csv_without_times(out: Path) -> list[list[str]]:
    import csv

    rows = list(csv.reader((out / "results.csv").read_text().splitlines()))
    column = rows[0].index("build_s")
    return [r[:column] + r[column + 1:] for r in rows]


def test_ray_executor_on_a_local_cluster_matches_local(uninterrupted, submissions,
                                                       tmp_path: Path) -> None:
    pytest.importorskip("ray")
    out = tmp_path / "out"
    run_batch(submissions, out, "--executor", "ray")
    assert verdicts(out) == verdicts(uninterrupted)
    assert canonical(out / "state.db") == canonical(uninterrupted / "state.db")
