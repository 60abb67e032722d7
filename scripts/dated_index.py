"""Build the dated index view bundled with a snapshot (carpenter/snapshot/index.py).

    python scripts/dated_index.py carpenter/data/snapshots/neurips-2023.toml

For every package of the snapshot's [pypi] table, reads PyPI's PEP 691 JSON page and keeps
each version whose first file was uploaded before the snapshot's cut-off.
"""

from __future__ import annotations

import gzip
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from carpenter.snapshot.create import PYPI, cutoff_of
from carpenter.snapshot.index import format_index, index_path, releases_before
from carpenter.snapshot.model import load_snapshot


def main(snapshot_file: str, index_url: str = PYPI) -> None:
    snapshot = load_snapshot(Path(snapshot_file))
    cutoff = cutoff_of(snapshot.as_of)
    names = sorted(snapshot.pypi)
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = dict(zip(names, pool.map(lambda n: releases_before(n, cutoff, index_url), names),
                         strict=True))
    text = format_index(cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"), found)
    out = index_path(Path(snapshot_file))
    # mtime=0: the same input gives byte-identical output (reviewable, reproducible).
    out.write_bytes(gzip.compress(text.encode(), mtime=0))
    print(f"{out}: {len(found)} packages, {sum(map(len, found.values()))} versions, "
          f"{out.stat().st_size} bytes")


if __name__ == "__main__":
    main(*sys.argv[1:])
