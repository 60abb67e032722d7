"""Suite-wide settings."""

import os

# The CLI caches scan results in ~/.cache/carpenter by default. Tests that monkeypatch rules or
# rewrite files quickly must always see a fresh scan; the cache has its own tests, which pass
# a cache folder explicitly (tests/scan/context/test_result_cache.py).
os.environ.setdefault("CARPENTER_NO_CACHE", "1")  # CARPENTER_NO_CACHE= runs them cached

# `carpenter fix` looks digests, commits and revisions up online by default. The suite runs
# offline so that its results do not depend on which registries answer; the look-up tests
# (tests/snapshot/test_lookup.py and the real servers they start) go online explicitly.
os.environ.setdefault("CARPENTER_OFFLINE", "1")


import pytest


@pytest.fixture(autouse=True)
def _fresh_redaction_registry():
    """Each test starts as a fresh `carpenter` process does: no secret value remembered yet.
    The registry is process-wide, so a value one test planted (a build-arg key) would
    otherwise be masked in a later test's unrelated output."""
    from carpenter.core import redact

    redact.forget_all()
    yield
    redact.forget_all()
