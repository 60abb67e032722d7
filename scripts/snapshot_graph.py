"""Build the requirement graph bundled with a snapshot (carpenter/snapshot/graph.py).

    python scripts/snapshot_graph.py carpenter/data/snapshots/neurips-2023.toml \
        carpenter/data/snapshots/inputs/neurips-2023.in

Re-runs the snapshot's own resolution (its input file, in its order: uv's choices depend on
it; cut-off, Python and platform, isolated as `snapshot create` is) with uv's `# via`
annotations, refuses to write anything unless the pins are exactly the snapshot's, and
writes `<snapshot>.requires.txt.gz`. Needs PyPI (one resolution, about 30 s).
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import tempfile
from pathlib import Path

from carpenter.snapshot.create import (
    CreateRequest,
    find_uv,
    isolated_env,
    parse_pins,
    read_requirements,
    uv_command,
)
from carpenter.snapshot.graph import format_graph, graph_from_annotations, graph_path
from carpenter.snapshot.model import load_snapshot


def main(snapshot_file: str, input_file: str) -> int:
    snapshot = load_snapshot(Path(snapshot_file))
    inputs = read_requirements(Path(input_file))
    latest_only = set(snapshot.provenance.get("latest_only", []))
    req = CreateRequest(as_of=snapshot.as_of, requirements=inputs,
                        python=snapshot.target.python, platform=snapshot.target.platform)
    with tempfile.TemporaryDirectory(prefix="carpenter-graph-") as tmp:
        in_file = Path(tmp) / "snapshot.in"
        in_file.write_text("\n".join(inputs) + "\n")
        cmd = uv_command(req, in_file, find_uv())
        cmd[cmd.index("--no-annotate")] = "--annotation-style=line"
        done = subprocess.run(cmd, cwd=tmp, env=isolated_env(), capture_output=True,
                              text=True, timeout=900, check=False)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return 1
    pins = parse_pins(done.stdout)
    expected = {n: v for n, v in snapshot.pypi.items() if n not in latest_only}
    if pins != expected:
        diff = sorted(set(pins.items()) ^ set(expected.items()))
        print(f"the resolution differs from the snapshot's pins: {diff[:20]}", file=sys.stderr)
        return 1
    graph = graph_from_annotations(done.stdout)
    source = (f"snapshot {snapshot.name}: {len(graph.requires)} packages; without a line "
              f"(requirements unknown): {', '.join(sorted(latest_only)) or 'none'}")
    out = graph_path(Path(snapshot_file))
    # mtime=0: the same input gives byte-identical output (reviewable, reproducible).
    out.write_bytes(gzip.compress(format_graph(graph, source).encode(), mtime=0))
    edges = sum(len(v) for v in graph.requires.values())
    print(f"{out}: {len(graph.requires)} packages, {edges} edges, {out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
