"""git look-ups as of a date, against real repositories over git daemon and file://."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from carpenter.snapshot.gitrefs import GitLookupError, GitRefs, strip_credentials

from .gitrepos import add_late_tags, make_project
from .servers import git_daemon

CUTOFF = datetime(2023, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("repos")
    hist = make_project(base)
    add_late_tags(hist)
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


def test_tags_of_the_date_are_not_flagged(served, refs) -> None:
    hist, url = served
    for tag, name in (("v0.1", "jun"), ("v0.2", "oct")):
        found = refs.commit_at(url, tag, CUTOFF)
        assert (found.commit, found.moved) == (hist.commits[name], "")
    assert refs.commit_at(url, "v0.2", CUTOFF).tagged == datetime(2023, 10, 1, 12, tzinfo=UTC)


def test_a_tag_on_a_commit_after_the_date_gives_the_commit_of_the_date(served, refs) -> None:
    """Regression (issue 11): ls-remote's answer (today's commit) was pinned as is, so a tag
    created after the cut-off pinned code of 2024 without a word."""
    hist, url = served
    found = refs.commit_at(url, "v0.3", CUTOFF)  # lightweight, on the 2024-03 commit
    assert found.commit == hist.commits["oct"]  # the tag's own line at 2023-12-01
    assert found.committed == datetime(2023, 10, 1, 12, tzinfo=UTC)
    assert "after the cut-off 2023-12-01T00:00Z" in found.moved
    assert hist.commits["mar"][:12] in found.moved
    annotated = refs.commit_at(url, "v0.4", CUTOFF)
    assert annotated.commit == hist.commits["oct"] and "re-pointed" in annotated.moved


def test_an_annotation_written_after_the_date_is_flagged_and_keeps_its_old_commit(
        served, refs) -> None:
    hist, url = served
    found = refs.commit_at(url, "v0.1-re", CUTOFF)
    assert found.commit == hist.commits["jun"]  # the commit existed at the date
    assert found.tagged == datetime(2024, 4, 1, 12, tzinfo=UTC)
    assert "written on 2024-04-01" in found.moved
    # with a later cut-off nothing is flagged
    assert refs.commit_at(url, "v0.3", datetime(2024, 5, 1, tzinfo=UTC)).moved == ""


def test_a_tag_whose_whole_history_is_later_is_a_clear_error(tmp_path: Path, refs) -> None:
    hist = make_project(tmp_path)
    with pytest.raises(GitLookupError, match="after the cut-off 2023-01-01T00:00Z, and its "
                       "history has no commit before it"):
        refs.commit_at(f"file://{hist.path}", "v0.1", datetime(2023, 1, 1, tzinfo=UTC))


def test_file_urls_work_too(tmp_path: Path, refs) -> None:
    hist = make_project(tmp_path)
    add_late_tags(hist)
    url = f"file://{hist.path}"
    assert refs.commit_at(url, "main", CUTOFF).commit == hist.commits["oct"]
    assert refs.commit_at(url, "v0.1", CUTOFF).commit == hist.commits["jun"]
    late = refs.commit_at(url, "v0.3", CUTOFF)
    assert late.commit == hist.commits["oct"] and late.moved


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


def test_fix_pins_the_commit_of_the_date_for_a_late_tag_and_warns(served, tmp_path: Path) -> None:
    """End to end: `carpenter fix` (online) on a clone of a tag created after the cut-off."""
    from carpenter.fix.engine import FixOptions, fix_paths
    from carpenter.fix.output import write_in_place
    from carpenter.snapshot.model import parse_snapshot

    hist, url = served
    (tmp_path / "Dockerfile").write_text(
        f"FROM python:3.10-slim@sha256:{'ab' * 32}\n"
        f"RUN git clone --branch v0.3 {url} /src && pip install --no-deps /src\n")
    snapshot = parse_snapshot(b'schema = 1\nname = "t"\nas_of = "2023-11-30"\n[target]\n'
                              b'python = "3.10"\nplatform = "x86_64-unknown-linux-gnu"\n')
    report = fix_paths([str(tmp_path)], FixOptions(snapshot, online=True, lock=False))
    text = next(f.after for f in report.files if f.path.endswith("Dockerfile"))
    assert f"git -C /src checkout {hist.commits['oct']}" in text
    warning = next(n for n in report.notes if "WARNING" in n)
    assert "tag v0.3" in warning and "after the cut-off 2023-12-01T00:00Z" in warning
    assert hist.commits["oct"][:12] in warning
    write_in_place(report.files)  # a second run changes nothing
    again = fix_paths([str(tmp_path)], FixOptions(snapshot, online=True, lock=False))
    assert [f.path for f in again.files if f.changed] == []
