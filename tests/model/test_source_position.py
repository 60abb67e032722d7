"""SourceFile.position clamps and maps offsets exactly as the max()/min() form did."""

from __future__ import annotations

import bisect
import random

from carpenter.model.source import SourceFile


def _reference(source: SourceFile, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(source.text)))
    index = bisect.bisect_right(source.line_starts, offset) - 1
    return index + 1, offset - source.line_starts[index] + 1


def test_position_matches_reference_everywhere() -> None:
    rng = random.Random(5)
    texts = ["", "\n", "a", "ab\ncd\n", "\n\nx\r\ny"]
    texts += ["".join(rng.choice("ab\n\r") for _ in range(rng.randint(0, 40))) for _ in range(200)]
    for text in texts:
        source = SourceFile("Dockerfile", text)
        for offset in range(-5, len(text) + 6):
            assert source.position(offset) == _reference(source, offset), (text, offset)
