"""Mask secret-looking values in any text Carpenter prints or writes.

A masked value keeps its type prefix, at most 4 body characters, its length and a short
sha256 fingerprint, so two reports can be matched without revealing the secret:
`hf_AbCd...(37 chars, sha256:1a2b3c4d5e6f)`. Values with no known shape (passwords in URLs,
random values under secret-named variables) show no characters, and a fingerprint only when
long enough that the hash cannot be brute-forced.

The shapes come from data/secrets.toml through `carpenter.core.shapes`, the same engine the
secret rules use; a built-in table takes over if that file cannot be read, so output never
fails and never leaks because of it. This module and the shapes are the bottom layer: they
import nothing from a stage, so redaction cannot fail to load (and never fails open).

Besides shapes, redaction knows every secret *value* of the run: values the user handed over
(`--secret`, `--build-arg`, `--env`) and values a rule identified, registered with `remember()`.
Those are masked wherever they appear, whatever their shape.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import sys
from collections.abc import Iterable, Iterator
from typing import TextIO

from carpenter.core.errors import ConfigError
from carpenter.core.lazyre import lazy_compile
from carpenter.core.shapes import find_secrets_in_file_text, find_shaped_secrets

# Fallback shapes when carpenter/data/secrets.toml is unavailable: (prefix, body).
_TOKEN_PATTERNS: tuple[tuple[str, str], ...] = (
    ("hf_", r"[A-Za-z0-9]{30,}"),
    ("api_org_", r"[A-Za-z0-9]{30,}"),
    ("wandb_v1_", r"[A-Za-z0-9_]{60,}"),
    ("ghp_", r"[A-Za-z0-9]{36,}"),
    ("gho_", r"[A-Za-z0-9]{36,}"),
    ("ghs_", r"[A-Za-z0-9]{36,}"),
    ("github_pat_", r"[A-Za-z0-9_]{60,}"),
    ("AKIA", r"[A-Z0-9]{16}"),
    ("sk-", r"[A-Za-z0-9_\-]{20,}"),
)
# One regex per prefix, literal first (re then searches for the literal), run only on texts
# holding that prefix: a multi-megabyte report costs milliseconds.
_TOKEN_RES = tuple(
    (prefix, lazy_compile(rf"(?P<p>{re.escape(prefix)})(?<![A-Za-z0-9_]{re.escape(prefix)})"
                          rf"(?P<b>{body})"))
    for prefix, body in _TOKEN_PATTERNS
)
# user:password@ in URLs (pip index URLs, git remotes).
_URL_PASSWORD_RE = lazy_compile(
    r"(?P<head>://(?<=[a-z0-9+.\-]://)[^/\s:@]*:)(?P<pw>[^@\s/]+)(?=@)")
# Kinds whose value has no recognisable shape: reveal nothing of it.
_SHAPELESS = frozenset({"url-credentials", "generic-secret", "private-key", "kaggle-key",
                        "aws-secret-access-key"})
_MIN_FINGERPRINT_LENGTH = 16  # shorter values could be recovered from an unsalted hash


def fingerprint(value: str) -> str:
    import hashlib  # only when a secret is shown (~2 ms at start-up otherwise)

    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]


def mask(value: str, prefix: str = "") -> str:
    """`hf_AbCd...(37 chars, sha256:1a2b3c4d5e6f)` for the secret `value` (prefix included)."""
    body = value[len(prefix):] if value.startswith(prefix) else value
    return f"{prefix}{body[:4]}...({len(value)} chars, {fingerprint(value)})"


def mask_opaque(value: str) -> str:
    """A value with no known shape (a password): no characters shown."""
    if len(value) >= _MIN_FINGERPRINT_LENGTH:
        return f"****({len(value)} chars, {fingerprint(value)})"
    return "****"


def mask_kind(kind: str, value: str, prefix: str = "") -> str:
    """Mask a detected secret according to its kind."""
    if kind in _SHAPELESS:
        return mask_opaque(value)
    return mask(value, prefix)


def _mask_token(match: re.Match[str]) -> str:
    return mask(match.group(0), match.group("p"))


def _redact_fallback(text: str) -> str:
    for prefix, regex in _TOKEN_RES:
        if prefix in text:  # most texts hold none
            text = regex.sub(_mask_token, text)
    if "://" not in text or "@" not in text:
        return text
    return _URL_PASSWORD_RE.sub(lambda m: m.group("head") + "****", text)


def _redact_shapes(text: str, guesses: bool = True) -> str:
    hits = find_secrets_in_file_text(text) if guesses else find_shaped_secrets(text)
    if not hits:
        return text
    parts: list[str] = []
    last = 0
    for hit in hits:  # sorted and non-overlapping
        parts.append(text[last:hit.start])
        parts.append(mask_kind(hit.kind, hit.value, hit.prefix))
        last = hit.end
    parts.append(text[last:])
    return "".join(parts)


# Every secret value seen in this run (user-supplied or found by a rule): masked everywhere.
_REMEMBERED: set[str] = set()
_LONGEST_FIRST: list[str] = []  # _REMEMBERED sorted once per change, not once per text


def remember(values: Iterable[str]) -> None:
    """Add secret values to what every later redaction masks (the run's one registry)."""
    new = {v for v in values if v and len(v) >= 4} - _REMEMBERED
    if new:
        _REMEMBERED.update(new)
        _LONGEST_FIRST[:] = sorted(_REMEMBERED, key=len, reverse=True)
        _redacted.cache_clear()
        _KNOWN_SAFE.clear()


def forget_all() -> None:
    """Empty the registry, as a new process has it (tests; a long-lived embedding process)."""
    _REMEMBERED.clear()
    _LONGEST_FIRST.clear()
    _redacted.cache_clear()
    _KNOWN_SAFE.clear()


def remembered() -> frozenset[str]:
    return frozenset(_REMEMBERED)


def redact(text: str, known: Iterable[str] = (), guesses: bool = True) -> str:
    """Return `text` with secret-looking values, every value in `known` and every remembered
    value masked. `guesses=False` leaves out values found only by keyword context or by a
    secret-named assignment (see stream_text)."""
    if not text:
        return text
    # Shapes first: a value with a known shape keeps its readable mask (`hf_AbCd...`).
    with contextlib.suppress(ConfigError):  # unreadable data: the table below still masks
        text = _redact_shapes(text, guesses)
    extra = {v for v in known if v and len(v) >= 4} - _REMEMBERED
    values = sorted(extra | _REMEMBERED, key=len, reverse=True) if extra else _LONGEST_FIRST
    for value in values:
        if value in text:
            # Values the user handed us (--secret) may be short passwords: show no characters.
            text = text.replace(value, f"***({fingerprint(value)})")
    # The built-in table always runs too: a second net for the most common token shapes.
    return _redact_fallback(text)


def safe_text(text: str, known: tuple[str, ...] = ()) -> str:
    """`text` with every secret-looking value masked: what every output channel calls."""
    if not text or (not known and text in _KNOWN_SAFE):
        return text
    return _redacted(text, known)


def stream_text(text: str) -> str:
    """The last net over whole outputs (stdout, stderr, report files): every remembered value
    and every self-identifying shape. Keyword-context guesses are left to the messages, which
    safe_text masks one by one: over a whole SARIF or JSON document they mistook Carpenter's
    own line hashes and the git SHAs in rule docs for Kaggle and W&B keys. Every value a rule
    found is remembered, so nothing a rule identified can pass."""
    if not text:
        return text
    return redact(text, guesses=False)


# Texts an earlier run already passed through safe_text and found unchanged by a second pass
# (the scan result cache keeps messages that way): no need to run the secret regexes again.
_KNOWN_SAFE: set[str] = set()


def redacted_fixed_point(text: str) -> str | None:
    """safe_text(text) when masking it again changes nothing (then it can be trusted as is
    later), else None."""
    once = safe_text(text)
    return once if safe_text(once) == once else None


def trust_redacted(texts: list[str]) -> None:
    """Mark texts that redacted_fixed_point() returned in an earlier run of this Carpenter."""
    if not _REMEMBERED:
        _KNOWN_SAFE.update(texts)


@functools.lru_cache(maxsize=65536)
def _redacted(text: str, known: tuple[str, ...]) -> str:
    # Cached: a large scan repeats the same messages and paths thousands of times.
    return redact(text, known)


class RedactingStream(io.TextIOBase):
    """A text stream that masks secrets in everything written to it: the one redaction point
    that `carpenter` installs over stdout and stderr.

    Text is held until a line is complete, so a secret written in two pieces is still seen
    whole; a remembered value is masked wherever it appears in that line, whatever comes
    before it (`echo "key:" && echo <key>` prints the key alone on the next line). flush()
    keeps an unfinished line back for the same reason, up to `_HOLD_LIMIT` characters.
    """

    _HOLD_LIMIT = 1 << 16

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self._inner = inner
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        cut = self._pending.rfind("\n") + 1
        if cut == 0 and len(self._pending) > self._HOLD_LIMIT:
            cut = len(self._pending)  # a newline-less flood: redact it in pieces
        if cut:
            done, self._pending = self._pending[:cut], self._pending[cut:]
            self._inner.write(stream_text(done))
        return len(text)

    def flush(self) -> None:
        self._inner.flush()

    def close_pending(self) -> None:
        """Write the unfinished last line (at exit)."""
        if self._pending:
            done, self._pending = self._pending, ""
            self._inner.write(stream_text(done))
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._inner, "encoding", "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._inner, "errors", None)

    @property
    def inner(self) -> TextIO:
        return self._inner


@contextlib.contextmanager
def redacted_std_streams() -> Iterator[None]:
    """Install RedactingStream over sys.stdout and sys.stderr for the duration."""
    saved = sys.stdout, sys.stderr
    out, err = RedactingStream(saved[0]), RedactingStream(saved[1])
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        for stream in (out, err):
            with contextlib.suppress(OSError, ValueError):
                stream.close_pending()
