"""git look-ups as of a date, against real repositories over git daemon and file://."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from carpenter.snapshot.gitrefs import GitLookupError, GitRefs, strip_credentials

from .gitrepos import make_project
from .servers import git_daemon

CUTOFF = datetime(2023, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("repos")
    hist = make_project(base)
    with git_daemon(base) as port:
        yield hist, f"git://127.0.0.1:{port}/proj.git"


@pytest.fixture()
def refs():
    client = GitRefs(timeout=60)
    yield client
    client.close()


def test_a_branch_gives_its_last_commit_before_the_date_over_git_daemon(served, refs) -> None:
    hist, url = served
    found = refs.commit_at(url, "main", CUTOFF)
    # Not the feature commit of September: it reached main only with the 2024 merge.
    assert found.commit == hist.commits["oct"]
    assert found.kind == "branch"
    assert found.committed == datetime(2023, 10, 1, 12, tzinfo=UTC)


def test_the_default_branch_is_read_from_the_remote_head(served, refs) -> None:
    hist, url = served
    assert refs.commit_at(url, None, CUTOFF).commit == hist.commits["oct"]
    assert refs.commit_at(url, "dev", CUTOFF).commit == hist.commits["dev-aug"]
    later = datetime(2024, 2, 15, tzinfo=UTC)
    assert refs.commit_at(url, "main", later).commit == hist.commits["merge"]


def test_tags_come_from_ls_remote_peeled_when_annotated(served, refs) -> None:
    hist, url = served
    assert refs.commit_at(url, "v0.1", CUTOFF).commit == hist.commits["jun"]
    annotated = refs.commit_at(url, "v0.2", CUTOFF)
    assert (annotated.commit, annotated.kind) == (hist.commits["oct"], "tag")


def test_file_urls_work_too(tmp_path: Path, refs) -> None:
    hist = make_project(tmp_path)
    url = f"file://{hist.path}"
    assert refs.commit_at(url, "main", CUTOFF).commit == hist.commits["oct"]
    assert refs.commit_at(url, "v0.1", CUTOFF).commit == hist.commits["jun"]


def test_unknown_refs_and_too_early_dates_are_clear_errors(served, refs) -> None:
    _, url = served
    with pytest.raises(GitLookupError, match="no branch or tag named 'nope'"):
        refs.commit_at(url, "nope", CUTOFF)
    with pytest.raises(GitLookupError, match="no commit on or before 2020-01-01"):
        refs.commit_at(url, "main", datetime(2020, 1, 1, tzinfo=UTC))


def test_a_full_commit_is_returned_as_is_without_asking(refs) -> None:
    sha = "a" * 40
    assert refs.commit_at("https://unreachable.invalid/x", sha, CUTOFF).commit == sha


def test_unreachable_servers_fail_without_credentials_in_the_message(refs) -> None:
    with pytest.raises(GitLookupError) as info:
        refs.commit_at("http://alice:tok-123456@127.0.0.1:9/x.git", "main", CUTOFF)
    assert "tok-123456" not in str(info.value)
    assert strip_credentials("https://u:p@github.com/a/b") == "https://github.com/a/b"
