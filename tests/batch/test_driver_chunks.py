"""The driver's chunking of cheap units: fewer hand-offs, and a dead worker costs only the
submission that killed it (no engine; the stages are the real scan and fix)."""

from __future__ import annotations

import concurrent.futures as cf
from pathlib import Path

from carpenter.batch.driver import Driver, Limits
from carpenter.batch.inputs import load_inputs
from carpenter.batch.state import State
from carpenter.pipeline.stages import CheckOptions

DOCKERFILE = "FROM python:3.11-slim\nRUN pip install requests\nCMD [\"python\"]\n"


class Inline:
    """Runs each task at once in this process; a task holding `poison` dies like a worker."""

    name = "inline"

    def __init__(self, poison: str | None = None) -> None:
        self.poison = poison
        self.tasks: list[int] = []  # submissions per task

    def submit(self, kind, fn, *args):
        future: cf.Future = cf.Future()
        jobs = args[0] if fn.__name__ == "run_jobs" else [(args[0], args[1])]
        self.tasks.append(len(jobs))
        if self.poison and any(job[1].id == self.poison for job in jobs):
            future.set_exception(cf.process.BrokenProcessPool("worker killed"))
        else:
            future.set_result(fn(*args))
        return future

    def wait(self, handles, timeout):
        return list(handles)

    def result(self, handle):
        return handle.result()


def corpus(root: Path, count: int) -> list:
    for i in range(count):
        (root / f"s{i:02d}").mkdir(parents=True)
        (root / f"s{i:02d}" / "Dockerfile").write_text(DOCKERFILE)
    return load_inputs(root)


def test_many_submissions_per_task_and_every_result_stored(tmp_path):
    entries = corpus(tmp_path / "in", 40)
    executor = Inline()
    Driver(entries, tmp_path / "out", CheckOptions(stages=("scan", "fix")), executor,
           Limits(jobs=2)).run()
    assert len(executor.tasks) <= 20 and sum(executor.tasks) == 40
    state = State(tmp_path / "out" / "state.db")
    try:
        assert len(state.verdicts()) == 40
        assert all(set(stages) == {"scan", "fix"} for stages in state.done().values())
    finally:
        state.close()


def test_a_dead_worker_costs_only_its_own_submission(tmp_path):
    entries = corpus(tmp_path / "in", 40)
    executor = Inline(poison="s01")
    Driver(entries, tmp_path / "out", CheckOptions(stages=("scan", "fix")), executor,
           Limits(jobs=2)).run()
    state = State(tmp_path / "out" / "state.db")
    try:
        done = state.done()
    finally:
        state.close()
    assert done["s01"]["scan"]["status"] == "error"
    assert "died" in done["s01"]["scan"]["error"]
    others = [stages["scan"]["status"] for sub, stages in done.items() if sub != "s01"]
    assert len(others) == 39 and "error" not in others
