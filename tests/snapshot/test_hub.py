"""Hub revisions as of a date: recorded responses served over real HTTP on loopback, and one
live test that runs only where huggingface.co answers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from carpenter.snapshot.hub import HubClient, HubError, parse_commit

from .servers import RecordedHub, recorded_hub

CUTOFF = datetime(2023, 12, 1, tzinfo=UTC)
TOKEN = "hf_" + "Q" * 34  # a token-shaped value; it must never reach a message


def test_the_revision_is_the_last_commit_before_the_date_across_pages(endpoint: str) -> None:
    found = HubClient(endpoint, token="").revision_at("meta-llama/Llama-2-7b-hf", CUTOFF)
    assert found.commit == "7" * 40  # on the second page
    assert found.date == datetime(2023, 11, 29, 17, 2, 11, tzinfo=UTC)
    later = HubClient(endpoint, token="").revision_at("meta-llama/Llama-2-7b-hf",
                                                      datetime(2024, 2, 1, tzinfo=UTC))
    assert later.commit == "8" * 40


def test_a_repository_created_after_the_date_is_said_so(endpoint: str) -> None:
    with pytest.raises(HubError, match="no commit on or before 2023-12-01"):
        HubClient(endpoint, token="").revision_at("org/new-model", CUTOFF)


def test_missing_or_gated_repositories_and_bad_ids(endpoint: str) -> None:
    with pytest.raises(HubError, match="not found on the hub, or gated"):
        HubClient(endpoint, token="").revision_at("org/absent", CUTOFF)
    with pytest.raises(HubError, match="not a hub repository id"):
        HubClient(endpoint, token="").revision_at("../etc/passwd", CUTOFF)


def test_the_token_is_sent_but_never_printed(endpoint: str) -> None:
    RecordedHub.seen_auth.clear()
    HubClient(endpoint, token=TOKEN).revision_at("meta-llama/Llama-2-7b-hf", CUTOFF)
    assert RecordedHub.seen_auth[0] == f"Bearer {TOKEN}"
    with pytest.raises(HubError) as info:
        HubClient("http://127.0.0.1:9", token=TOKEN, timeout=2).revision_at("a/b", CUTOFF)
    assert "does not answer" in str(info.value) and TOKEN not in str(info.value)


def test_commit_entries_in_other_shapes_are_rejected() -> None:
    assert parse_commit({"id": "a" * 40, "date": "2023-01-01T00:00:00Z"})[0] == "a" * 40
    assert parse_commit({"oid": "b" * 40, "date": "2023-01-01T00:00:00.000Z"})[0] == "b" * 40
    assert parse_commit({"id": "short", "date": "2023-01-01T00:00:00Z"}) is None
    assert parse_commit({"id": "a" * 40, "date": "yesterday"}) is None
    assert parse_commit(["a"]) is None


def _hub_answers() -> bool:
    try:
        return requests.head("https://huggingface.co/api/models/gpt2", timeout=5).status_code < 500
    except requests.RequestException:
        return False


def test_live_hub_gives_a_2023_revision_of_gpt2() -> None:
    if not _hub_answers():  # asked here, not at collection: no 5 s wait for other tests
        pytest.skip("huggingface.co does not answer from here")
    found = HubClient(token="").revision_at("openai-community/gpt2", CUTOFF)
    assert found.date <= CUTOFF and len(found.commit) == 40


@pytest.fixture(scope="module")
def endpoint():
    with recorded_hub() as url:
        yield url
