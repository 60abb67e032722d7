"""Suite-wide settings."""

import os

# The CLI caches scan results in ~/.cache/carpenter by default. Tests that monkeypatch rules or
# rewrite files quickly must always see a fresh scan; the cache has its own tests, which pass
# a cache folder explicitly (tests/scan/context/test_result_cache.py).
os.environ.setdefault("CARPENTER_NO_CACHE", "1")  # CARPENTER_NO_CACHE= runs them cached
