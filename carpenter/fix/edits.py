"""Text edits on file spans: the only way `fix` changes a file.

An edit replaces [offset, end_offset) with new text (an insertion has offset == end_offset).
Edits are applied back to front so earlier offsets stay valid; two edits that touch the same
characters are a bug in a fixer and are rejected instead of producing a garbled file.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Edit:
    offset: int
    end_offset: int
    replacement: str

    def __post_init__(self) -> None:
        if self.offset < 0 or self.end_offset < self.offset:
            raise ValueError(f"bad edit span [{self.offset}, {self.end_offset})")

    @property
    def is_insertion(self) -> bool:
        return self.offset == self.end_offset


class OverlapError(ValueError):
    """Two edits change the same characters."""


def overlaps(a: Edit, b: Edit) -> bool:
    """True when the two edits cannot both apply. Insertions at the same point conflict unless
    identical; an insertion strictly inside a replaced range conflicts too."""
    if a == b:
        return False
    if a.is_insertion and b.is_insertion:
        return a.offset == b.offset
    if a.is_insertion:
        return b.offset < a.offset < b.end_offset
    if b.is_insertion:
        return a.offset < b.offset < a.end_offset
    return a.offset < b.end_offset and b.offset < a.end_offset


def normalize(edits: list[Edit]) -> list[Edit]:
    """Sorted, duplicates dropped, overlaps rejected."""
    unique = sorted(set(edits))
    # All pairs, not just neighbours: insertions make the sorted order a weak guide, and a
    # file gets a handful of edits.
    for i, first in enumerate(unique):
        for second in unique[i + 1:]:
            if second.offset > first.end_offset:
                break
            if overlaps(first, second):
                raise OverlapError(f"edits overlap: {first} and {second}")
    return unique


def apply_edits(text: str, edits: list[Edit]) -> str:
    ordered = normalize(edits)
    if ordered and ordered[-1].end_offset > len(text):
        raise ValueError(f"edit beyond end of text ({ordered[-1].end_offset} > {len(text)})")
    parts = []
    cursor = 0
    for edit in ordered:
        parts.append(text[cursor:edit.offset])
        parts.append(edit.replacement)
        cursor = edit.end_offset
    parts.append(text[cursor:])
    return "".join(parts)


def compose(a: Edit, b: Edit) -> Edit | None:
    """One insertion doing the work of two at the same point, when their order is clear: a
    whole command prepended (`export X=... && `, or a line) goes before an assignment prefix
    such as `MAX_JOBS=4 `, which must stay on the command it sets. None when unclear."""
    if not (a.is_insertion and b.is_insertion and a.offset == b.offset) or a == b:
        return None
    first_a, first_b = _prepends_command(a), _prepends_command(b)
    if first_a == first_b:
        return None
    head, tail = (a, b) if first_a else (b, a)
    return Edit(a.offset, a.offset, head.replacement + tail.replacement)


def _prepends_command(edit: Edit) -> bool:
    return edit.replacement.endswith(("&& ", "\n"))


def conflicts_with(edit: Edit, accepted: list[Edit]) -> bool:
    return any(overlaps(edit, other) for other in accepted)


def unified_diff(path: str, before: str, after: str, new_file: bool = False) -> str:
    shown = path.lstrip("/")
    old_name = "/dev/null" if new_file else f"a/{shown}"
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile=old_name, tofile=f"b/{shown}")
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
