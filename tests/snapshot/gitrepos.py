"""Real git repositories with back-dated commits, for the date look-up tests."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


def git(repo: Path, *args: str, date: str | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          env=env, timeout=60, check=True)
    return done.stdout.strip()


@dataclass
class History:
    """Commits by name -> sha, for assertions."""

    path: Path
    commits: dict[str, str] = field(default_factory=dict)

    def commit(self, name: str, date: str) -> str:
        (self.path / "f.txt").write_text(name + "\n")
        git(self.path, "add", "f.txt")
        git(self.path, "commit", "-q", "-m", name, date=date)
        self.commits[name] = git(self.path, "rev-parse", "HEAD")
        return self.commits[name]


def make_project(base: Path, name: str = "proj.git") -> History:
    """main: jun-2023, oct-2023, (merge of a sep-2023 feature commit on feb-2024), mar-2024.

    Tags: v0.1 -> jun commit (lightweight), v0.2 -> oct commit (annotated). Branch `dev`
    has one commit in aug-2023 and one in 2024. The work tree is `base/name` itself, so
    `git daemon --base-path=base` serves it as /name and file:// reaches it too."""
    path = base / name
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    hist = History(path)
    hist.commit("jun", "2023-06-01T12:00:00Z")
    git(path, "tag", "v0.1")
    hist.commit("oct", "2023-10-01T12:00:00Z")
    git(path, "tag", "-a", "v0.2", "-m", "release", date="2023-10-01T12:00:00Z")
    git(path, "checkout", "-q", "-b", "feature")
    hist.commit("feature-sep", "2023-09-15T12:00:00Z")
    git(path, "checkout", "-q", "main")
    git(path, "merge", "-q", "--no-ff", "-m", "merge feature", "feature",
        date="2024-02-01T12:00:00Z")
    hist.commits["merge"] = git(path, "rev-parse", "HEAD")
    hist.commit("mar", "2024-03-01T12:00:00Z")
    git(path, "checkout", "-q", "-b", "dev", hist.commits["jun"])
    hist.commit("dev-aug", "2023-08-01T12:00:00Z")
    hist.commit("dev-2024", "2024-05-01T12:00:00Z")
    git(path, "checkout", "-q", "main")
    return hist


def add_late_tags(hist: History) -> None:
    """Tags made after 2023-12-01 (the tests' cut-off): `v0.3` (lightweight, on the 2024-03
    commit), `v0.1-re` (annotated on 2024-04-01, on the 2023-06 commit: a tag created late on
    an old commit) and `v0.4` (annotated on 2024-04-01, on the 2024-03 commit)."""
    git(hist.path, "tag", "v0.3", hist.commits["mar"])
    git(hist.path, "tag", "-a", "v0.1-re", "-m", "late", hist.commits["jun"],
        date="2024-04-01T12:00:00Z")
    git(hist.path, "tag", "-a", "v0.4", "-m", "late", hist.commits["mar"],
        date="2024-04-01T12:00:00Z")
