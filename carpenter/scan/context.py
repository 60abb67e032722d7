"""What a rule sees while checking one Dockerfile: the model, its build context, the config."""

from __future__ import annotations

import os
from dataclasses import field
from functools import cached_property
from typing import Any

from carpenter.core.diagnostics import Diagnostic
from carpenter.core.errors import InputError
from carpenter.core.records import record
from carpenter.model.dockerfile import Dockerfile
from carpenter.model.source import SourceFile, read_source
from carpenter.scan.config import ScanConfig


@record(eq=False)
class ScanContext:
    """What a rule sees: the parsed Dockerfile, its build context and the configuration."""

    dockerfile: Dockerfile
    context_dir: str | None  # filesystem path of the build context
    config: ScanConfig
    relative_display: bool = True  # paths shown relative to the working directory
    cache: dict[str, Any] = field(default_factory=dict)  # shared facts between rules
    errors: list[Diagnostic] = field(default_factory=list)

    @property
    def source(self) -> SourceFile:
        return self.dockerfile.source

    @property
    def path(self) -> str:
        return self.dockerfile.path

    def display(self, fs_path: str) -> str:
        """Show a file the way the user named the input (relative stays relative)."""
        if self.relative_display:
            try:
                return os.path.relpath(fs_path)
            except ValueError:
                return fs_path
        return os.path.abspath(fs_path)

    def context_path(self, relative: str) -> str | None:
        """Filesystem path of a context-relative path, or None without a context."""
        if self.context_dir is None:
            return None
        return os.path.normpath(os.path.join(self.context_dir, relative.lstrip("/")))

    def context_file(self, relative: str) -> SourceFile | None:
        """A text file of the build context, read once; None if absent, unreadable or outside.

        A path that resolves outside the context (a `..` path, a symlink leading out) is never
        read: Docker would not send it, and a hostile submission must not make a scan print
        lines of host files such as /etc/shadow.
        """
        key = "file:" + relative
        if key in self.cache:
            return self.cache[key]
        fs_path = self.context_path(relative)
        source = None
        if fs_path and self._inside_context(fs_path) and os.path.isfile(fs_path):
            try:
                source = read_source(fs_path, self.display(fs_path))
            except InputError as exc:
                self.errors.append(Diagnostic(exc.path or self.display(fs_path), None, exc.message))
        self.cache[key] = source
        return source

    def _inside_context(self, fs_path: str) -> bool:
        folder = self.context_dir or "."
        key = "realpath:" + folder  # the root is resolved once per scan, not per file read
        root = self.cache.get(key)
        if root is None:
            root = self.cache[key] = os.path.realpath(folder)
        real = os.path.realpath(fs_path)
        return real == root or real.startswith(root.rstrip(os.sep) + os.sep)

    @cached_property
    def build_context(self) -> Any:
        """The build context (files, .dockerignore, git state); see carpenter.model.context."""
        from carpenter.model.context import BuildContext

        return BuildContext.load(self.context_dir, self.dockerfile)
