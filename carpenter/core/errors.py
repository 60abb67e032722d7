"""One error type per stage; the CLI turns each into a message and an exit code, not a traceback."""

from __future__ import annotations

# Exit codes shared by every command.
EXIT_OK = 0
EXIT_FINDINGS = 1  # findings at/above --fail-on, a failed build, a failed smoke check
EXIT_ERROR = 2  # usage error, unreadable input, no engine, no such image


class CarpenterError(Exception):
    """An expected failure with a located, readable message."""

    exit_code = EXIT_ERROR

    def __init__(
        self, message: str, *, path: str | None = None, line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.column = column

    def located(self) -> str:
        where = self.path or ""
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}" if where else self.message


class InputError(CarpenterError):
    """A file or folder that cannot be read (missing, binary, loop, permission)."""


class ParseError(CarpenterError):
    """A Dockerfile or data file that does not parse."""


class ConfigError(CarpenterError):
    """Bad configuration (.carpenter.toml, options)."""


class EngineError(CarpenterError):
    """No Docker engine reachable, or the engine refused a request."""


class SnapshotError(CarpenterError):
    """A snapshot that is missing, malformed or cannot be created."""
