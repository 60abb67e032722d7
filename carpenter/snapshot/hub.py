"""A Hugging Face hub repository -> its commit as of a cut-off date.

The hub lists a branch's commits newest first at `GET <endpoint>/api/<type>s/<id>/commits/
<revision>` (what `huggingface_hub.HfApi.list_repo_commits` reads): a JSON array of
`{"id": <40 hex>, "title", "message", "authors": [...], "date": <ISO 8601>}`, paged with a
`Link: <...>; rel="next"` header. The first commit dated on or before the cut-off is the
revision the repository had then. Plain `requests`, so Carpenter needs no huggingface_hub.

`HF_ENDPOINT` points at another hub (a mirror); `HF_TOKEN` (or the token file
`huggingface-cli login` writes) is sent for gated repositories and never printed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import requests

from carpenter.core.redact import safe_text

DEFAULT_ENDPOINT = "https://huggingface.co"
MAX_PAGES = 50  # a repository with thousands of commits is not walked to its first one
_SHA = re.compile(r"^[0-9a-f]{40}$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


class HubError(Exception):
    """The hub did not answer or has no such repository; the message is safe to print."""


@dataclass(frozen=True)
class HubRevision:
    repo_id: str
    commit: str
    date: datetime
    title: str = ""


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_token() -> str | None:
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if os.environ.get(name):
            return os.environ[name]
    home = os.environ.get("HF_HOME") or str(Path.home() / ".cache" / "huggingface")
    try:
        token = (Path(home) / "token").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token or None


class HubClient:
    def __init__(self, endpoint: str | None = None, timeout: float = 20,
                 token: str | None = None, session: requests.Session | None = None) -> None:
        self.endpoint = (endpoint or hub_endpoint()).rstrip("/")
        self.timeout = timeout
        self.token = token if token is not None else hub_token()
        self.session = session or requests.Session()

    def revision_at(self, repo_id: str, cutoff: datetime, revision: str = "main",
                    repo_type: str = "model") -> HubRevision:
        if not _REPO_ID.match(repo_id):
            raise HubError(f"not a hub repository id: {repo_id!r}")
        url: str | None = (f"{self.endpoint}/api/{repo_type}s/{repo_id}/commits/"
                           f"{quote(revision, safe='')}")
        for _ in range(MAX_PAGES):
            if url is None:
                break
            response = self._get(url, repo_id)
            for entry in _commits(response, repo_id):
                if entry.date <= cutoff:
                    return entry
            url = response.links.get("next", {}).get("url")
        raise HubError(f"{repo_id}: no commit on or before {cutoff.date()} on {revision} "
                       "(the repository was created later)")

    def _get(self, url: str, repo_id: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = self.session.get(url, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise HubError(self._safe(f"the hub ({self.endpoint}) does not answer: "
                                      f"{type(exc).__name__}")) from None
        if response.status_code in (401, 403, 404):
            raise HubError(f"{repo_id}: not found on the hub, or gated/private "
                           f"(HTTP {response.status_code}; set HF_TOKEN for gated models)")
        if not response.ok:
            raise HubError(f"{repo_id}: the hub answered HTTP {response.status_code}")
        return response

    def _safe(self, text: str) -> str:
        return safe_text(text, (self.token,) if self.token else ())


def _commits(response: requests.Response, repo_id: str) -> list[HubRevision]:
    try:
        body = response.json()
    except ValueError:
        raise HubError(f"{repo_id}: the hub's commit list is not JSON") from None
    if not isinstance(body, list):
        raise HubError(f"{repo_id}: unexpected commit list shape ({type(body).__name__})")
    out = []
    for entry in body:
        parsed = parse_commit(entry)
        if parsed is None:
            raise HubError(f"{repo_id}: unexpected commit entry in the hub's answer")
        out.append(HubRevision(repo_id, *parsed))
    # Newest first is the hub's order; sort anyway so a page never gives a later commit.
    return sorted(out, key=lambda c: c.date, reverse=True)


def parse_commit(entry: object) -> tuple[str, datetime, str] | None:
    """(sha, date, title) from one commit object; None when the shape is not the hub's."""
    if not isinstance(entry, dict):
        return None
    sha = entry.get("id") or entry.get("oid")
    date = entry.get("date")
    if not isinstance(sha, str) or not _SHA.match(sha) or not isinstance(date, str):
        return None
    try:
        when = datetime.fromisoformat(date.replace("Z", "+00:00"))
    except ValueError:
        return None
    title = entry.get("title")
    return sha, when, title if isinstance(title, str) else ""
