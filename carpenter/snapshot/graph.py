"""The requirement graph of a snapshot's resolution: which of its packages each one requires.

A snapshot holds one version per package, chosen by one uv resolution. Offline, `fix` may
have to choose another version for a package (the submission's range excludes the
snapshot's); that version's own requirements are unknown offline, so every package below it
in this graph may need another version than the snapshot's. The graph bounds what must be
left out of an offline lock: without it, all of the snapshot's other pins had to go.

It is bundled next to the snapshot as `<snapshot>.requires.txt.gz`, built by
`scripts/snapshot_graph.py` from the same resolution with uv's `# via` annotations:

    accelerate: huggingface-hub numpy packaging psutil pyyaml safetensors torch

A package without a line (one dated without resolving, `--latest-only`) has unknown
requirements.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from packaging.utils import canonicalize_name

from carpenter.core.errors import SnapshotError

SUFFIX = ".requires.txt.gz"
HEADER = "# requirement graph of a snapshot's resolution: `name: the names it requires`"


@dataclass(frozen=True)
class RequirementGraph:
    requires: dict[str, frozenset[str]]  # canonical name -> canonical names it requires

    def known(self, name: str) -> bool:
        """Whether the package's requirements are known (it has a line)."""
        return canonicalize_name(name) in self.requires

    def below(self, names: Iterable[str]) -> set[str]:
        """Every package reached from `names` through requirements (`names` excluded unless
        one requires another)."""
        return _reach(self.requires, names)

    def above(self, names: Iterable[str]) -> set[str]:
        """Every package that requires one of `names`, directly or through others."""
        return _reach(self._required_by, names)

    @cached_property
    def _required_by(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for parent, children in self.requires.items():
            for child in children:
                out.setdefault(child, set()).add(parent)
        return out


def _reach(edges: Mapping[str, Iterable[str]], start: Iterable[str]) -> set[str]:
    todo = [canonicalize_name(n) for n in start]
    seen: set[str] = set()
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def graph_path(snapshot_path: Path) -> Path:
    return snapshot_path.with_name(snapshot_path.name.removesuffix(".toml") + SUFFIX)


def graph_from_annotations(text: str) -> RequirementGraph:
    """From `uv pip compile --annotation-style line` output: `name==1.0  # via a, b, -r x`
    means a and b require name."""
    requires: dict[str, set[str]] = {}
    for line in text.splitlines():
        pin, _, note = line.partition("#")
        name = pin.split("==", 1)[0].split("[", 1)[0].strip()
        if not name or "==" not in pin:
            continue
        requires.setdefault(canonicalize_name(name), set())
        via = note.strip().removeprefix("via").split(",")
        for parent in via:
            parent = parent.strip()
            if parent and not parent.startswith("-"):
                requires.setdefault(canonicalize_name(parent), set()).add(
                    canonicalize_name(name))
    return RequirementGraph({k: frozenset(v) for k, v in requires.items()})


def format_graph(graph: RequirementGraph, source: str) -> str:
    lines = [HEADER, f"# {source}"]
    lines += [f"{name}: {' '.join(sorted(graph.requires[name]))}".rstrip()
              for name in sorted(graph.requires)]
    return "\n".join(lines) + "\n"


def parse_graph(text: str, where: str = "") -> RequirementGraph:
    requires: dict[str, frozenset[str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, colon, rest = line.partition(":")
        if not colon or not name.strip():
            raise SnapshotError("bad requirement graph line (expected `name: names`)",
                                path=where, line=number)
        requires[canonicalize_name(name.strip())] = frozenset(
            canonicalize_name(n) for n in rest.split())
    return RequirementGraph(requires)


@lru_cache(maxsize=8)
def load_graph(snapshot_path: Path) -> RequirementGraph | None:
    """The graph bundled with a snapshot file; None when it has none."""
    path = graph_path(snapshot_path)
    if not path.is_file():
        return None
    try:
        text = gzip.decompress(path.read_bytes()).decode()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"cannot read the requirement graph: {exc}", path=str(path)) from exc
    return parse_graph(text, str(path))
