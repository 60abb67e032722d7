"""Where Carpenter's data lives: the repository's `rules/` folder (or CARPENTER_RULES_DIR)."""

from __future__ import annotations

import os
from pathlib import Path


def rules_dir() -> Path:
    override = os.environ.get("CARPENTER_RULES_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "rules"
