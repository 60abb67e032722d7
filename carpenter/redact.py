"""Mask secret-looking values in any text Carpenter prints or writes.

A masked value keeps its type prefix, at most 4 body characters, its length and a short
sha256 fingerprint, so two reports can be matched without revealing the secret.
(Minimal first version; the secrets stage extends the pattern set.)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

# (prefix, body pattern): the prefix is kept, the body is masked.
_TOKEN_PATTERNS: tuple[tuple[str, str], ...] = (
    ("hf_", r"[A-Za-z0-9]{30,}"),
    ("api_org_", r"[A-Za-z0-9]{30,}"),
    ("ghp_", r"[A-Za-z0-9]{36,}"),
    ("gho_", r"[A-Za-z0-9]{36,}"),
    ("github_pat_", r"[A-Za-z0-9_]{60,}"),
    ("AKIA", r"[A-Z0-9]{16}"),
    ("sk-", r"[A-Za-z0-9_\-]{20,}"),
)
_TOKEN_RE = re.compile(
    "|".join(
        rf"(?<![A-Za-z0-9_])(?P<p{i}>{re.escape(prefix)})(?P<b{i}>{body})"
        for i, (prefix, body) in enumerate(_TOKEN_PATTERNS)
    )
)
# user:password@ in URLs (pip index URLs, git remotes).
_URL_PASSWORD_RE = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^/\s:@]+:)(?P<pw>[^@\s/]+)(?=@)")


def fingerprint(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]


def mask(value: str, prefix: str = "") -> str:
    """`hf_AbCd...(37 chars, sha256:1a2b3c4d5e6f)` for the secret `value` (prefix included)."""
    body = value[len(prefix):] if value.startswith(prefix) else value
    return f"{prefix}{body[:4]}...({len(value)} chars, {fingerprint(value)})"


def _mask_token(match: re.Match[str]) -> str:
    for name, prefix in match.groupdict().items():
        if name.startswith("p") and prefix is not None:
            return mask(match.group(0), prefix)
    return mask(match.group(0))


def redact(text: str, known: Iterable[str] = ()) -> str:
    """Return `text` with secret-looking values and every value in `known` masked."""
    for value in sorted({v for v in known if v and len(v) >= 4}, key=len, reverse=True):
        # Values the user handed us (--secret) may be short passwords: show no characters.
        text = text.replace(value, f"***({fingerprint(value)})")
    text = _TOKEN_RE.sub(_mask_token, text)
    return _URL_PASSWORD_RE.sub(lambda m: m.group("head") + "****", text)
