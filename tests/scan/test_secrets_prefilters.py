"""The fast paths of the secret regex engine give exactly what the plain code gave."""

from __future__ import annotations

import random
import sys
from pathlib import Path

from carpenter.core import shapes as secrets
from carpenter.core.shapes import _lower, find_secrets, find_secrets_in_file_text

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "submissions"


def _lower_reference(text: str) -> str:
    """The original per-character mapping (same offsets as the input)."""
    if text.isascii():
        return text.lower()
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def test_lower_matches_reference_for_every_code_point() -> None:
    every = [chr(code) for code in range(sys.maxunicode + 1)]
    for start in range(0, len(every), 32):  # runs of neighbours, most without special chars
        text = "é" + "".join(every[start:start + 32])
        assert _lower(text) == _lower_reference(text), hex(start)
    for char in every:
        if char.lower() == char:
            continue  # unchanged by lowering, already covered by the runs above
        for text in (char, "a" + char, char + "b", "A" + char + "Z", "é" + char, "é" + char + "z"):
            assert _lower(text) == _lower_reference(text), hex(ord(char))


def test_lower_matches_reference_on_random_text() -> None:
    rng = random.Random(1234)
    # Characters whose lower case is special: final sigma, expanding ones, Turkish dotted I.
    special = "\u03a3\u03c3\u03c2\u0130\u0049\u1e9e\u00df\u2126\u212a\u212b\u1f88\u0345\u01c5"
    pool = special + "aZ _-=:\n\t'\"0123456789éÉ" + "".join(chr(c) for c in range(0x370, 0x400))
    for _ in range(20000):
        length = rng.randint(0, 24)
        text = "".join(rng.choice(pool) for _ in range(length))
        if rng.random() < 0.3:
            text += "".join(chr(rng.randint(0, 0x2FFFF)) for _ in range(rng.randint(1, 6)))
        assert _lower(text) == _lower_reference(text), repr(text)


def _fixture_texts() -> list[str]:
    texts = []
    for path in sorted(FIXTURES.rglob("*")):
        if path.is_file() and path.stat().st_size < 200_000:
            texts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return texts


def test_file_text_scan_unchanged_by_shared_lowering(monkeypatch) -> None:
    texts = _fixture_texts()
    texts += ["HF_TOKEN = hf_" + "aB3" * 11 + "x\nΣ\u0391Σ token: " + "Zq9" * 8,
              "İ api_key='sk-" + "k9Q" * 12 + "'", "ΣΣ password=Xy7$Qw9!Lm3#Rt5&"]
    fast = [find_secrets_in_file_text(t) for t in texts]
    monkeypatch.setattr(secrets, "_lower", _lower_reference)
    slow = [find_secrets_in_file_text(t) for t in texts]
    plain = [find_secrets(t) for t in texts]
    assert fast == slow
    assert any(fast) and any(plain)
