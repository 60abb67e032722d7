"""Source files and spans: every finding points at physical lines and columns."""

from __future__ import annotations

import bisect
import os
import stat

from carpenter.core.errors import InputError
from carpenter.core.records import record

MAX_BYTES = 64 * 1024 * 1024  # refuse absurd inputs instead of exhausting memory


@record(eq=False, slots=True)
class Span:
    """A range in a file: 1-based lines and columns (end inclusive line, exclusive column)."""

    line: int
    column: int
    end_line: int
    end_column: int
    offset: int
    end_offset: int


class SourceFile:
    """The text of one file with a table of line starts for offset -> (line, column)."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        starts = [0]
        find = text.find
        pos = find("\n")
        while pos != -1:
            starts.append(pos + 1)
            pos = find("\n", pos + 1)
        self.line_starts = starts

    @property
    def line_count(self) -> int:
        return len(self.line_starts)

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        # Clamped to [0, len(text)] by comparisons: called for every span, where the
        # max()/min() calls were a third of the cost.
        if offset < 0:
            offset = 0
        elif offset > len(self.text):
            offset = len(self.text)
        starts = self.line_starts
        index = bisect.bisect_right(starts, offset) - 1
        return index + 1, offset - starts[index] + 1

    def offset_of(self, line: int, column: int = 1) -> int:
        line = max(1, min(line, len(self.line_starts)))
        return min(self.line_starts[line - 1] + column - 1, len(self.text))

    def span(self, start: int, end: int) -> Span:
        line, column = self.position(start)
        end_line, end_column = self.position(max(start, end))
        if end > start and end_column == 1 and end_line > line:
            # A range ending just after a newline ends on the previous line.
            end_line -= 1
            end_column = len(self.line_text(end_line)) + 1
        return Span(line, column, end_line, end_column, start, end)

    def line_text(self, line: int) -> str:
        if line < 1 or line > len(self.line_starts):
            return ""
        start = self.line_starts[line - 1]
        end = self.line_starts[line] - 1 if line < len(self.line_starts) else len(self.text)
        return self.text[start:end].rstrip("\r")


def looks_binary(data: bytes) -> bool:
    return b"\x00" in data[:8192]


def decode(data: bytes, path: str) -> str:
    """Decode as Docker does (UTF-8); undecodable bytes become U+FFFD so the rest still scans."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", errors="replace")


def read_source(path: str, display: str | None = None) -> SourceFile:
    """Read a text file or raise InputError with a readable reason."""
    shown = display or path
    try:
        if os.path.isdir(path):
            raise InputError("is a directory, not a file", path=shown)
        # O_NONBLOCK: opening a FIFO named Dockerfile must not hang waiting for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise InputError("not a regular file (a FIFO, socket or device)", path=shown)
            if info.st_size > MAX_BYTES:
                raise InputError(
                    f"file is too large ({info.st_size} bytes > {MAX_BYTES})", path=shown
                )
            # Ask for the size fstat saw (+1 to notice growth): read(MAX_BYTES + 1) allocates a
            # 64 MiB buffer for every small file. A file that grew is read on to the same cap.
            data = handle.read(info.st_size + 1)
            if len(data) > info.st_size:
                data += handle.read(MAX_BYTES + 1 - len(data))
    except InputError:
        raise
    except FileNotFoundError:
        if os.path.islink(path):
            raise InputError("broken symbolic link", path=shown) from None
        raise InputError("no such file", path=shown) from None
    except PermissionError:
        raise InputError("permission denied", path=shown) from None
    except OSError as exc:  # ELOOP, EIO, ...
        raise InputError(exc.strerror or str(exc), path=shown) from None
    if looks_binary(data):
        raise InputError("binary file (contains NUL bytes), not a Dockerfile", path=shown)
    text = decode(data, shown).replace("\r\n", "\n")
    return SourceFile(shown, text)
