"""Helpers for model tests: parse Dockerfile text without touching the filesystem."""

from __future__ import annotations

import textwrap

from carpenter.model.dockerfile import Dockerfile, parse_dockerfile
from carpenter.model.source import SourceFile


def make(text: str, build_args: dict[str, str] | None = None) -> Dockerfile:
    return parse_dockerfile(SourceFile("Dockerfile", textwrap.dedent(text).lstrip("\n")),
                            build_args)
