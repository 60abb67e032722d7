"""Hub model ids a submission's folder names, so the smoke substitutes them up front.

Without these the server (or training run) first fails offline, and only then does the retry
read the id from its log: a minute lost per run, and nothing when the log does not name the id.
Two sources, both static (nothing is run): the scan's DL001 findings (`Download(repo=...)`, the
downloads the Dockerfile's RUN steps make, scripts they run included) and `from_pretrained` /
`snapshot_download` literals in the folder's Python files (scan.pyscripts, via `ast`).
"""

from __future__ import annotations

from pathlib import Path

from carpenter.smoke import tinymodel

MAX_FILES = 400
MAX_BYTES = 512 * 1024
SKIP_DIRS = frozenset({"node_modules", "site-packages", "__pycache__", "venv", "env", "build",
                       "dist", "wandb"})
# Calls whose first argument is a model (load_dataset names a dataset; hf_hub_url a file).
MODEL_CALLS = frozenset({"from_pretrained", "snapshot_download", "hf_hub_download"})
MAX_IDS = 8


def context_ids(context: str) -> list[str]:
    """Model ids in order of first mention, those a stand-in can serve (or explain) only."""
    root = Path(context)
    if not root.is_dir():
        return []
    found = [*scan_ids(root), *python_ids(root)]
    return usable(list(dict.fromkeys(found)))[:MAX_IDS]


def usable(repos: list[str]) -> list[str]:
    """Known families, and remote-code ids (the plan then says why they are not served)."""
    shapes = tinymodel.load_shapes()
    out = []
    for repo in repos:
        if not tinymodel.REPO_ID.match(repo) or ".." in repo:
            continue
        if shapes.family_for(repo) or shapes.needs_remote_code(repo):
            out.append(repo)
    return out


def scan_ids(root: Path) -> list[str]:
    from carpenter.scan.engine import ScanOptions, scan_paths
    from carpenter.scan.payloads import Download

    try:
        report = scan_paths([str(root)], ScanOptions(context=str(root)))
    except Exception:  # a folder scan cannot parse is the scan command's to report, not ours
        return []
    return [f.payload.repo for f in report.findings
            if f.rule == "DL001" and isinstance(f.payload, Download) and f.payload.repo
            and (f.payload.function or "from_pretrained").rsplit(".", 1)[-1] in MODEL_CALLS]


def python_files(root: Path) -> list[Path]:
    out: list[Path] = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if any(p.startswith(".") or p in SKIP_DIRS for p in parts[:-1]):
            continue
        try:
            if not path.is_file() or path.stat().st_size > MAX_BYTES:
                continue
        except OSError:
            continue
        out.append(path)
        if len(out) >= MAX_FILES:
            break
    return out


def python_ids(root: Path) -> list[str]:
    from carpenter.scan.pyscripts import code_downloads

    found: list[str] = []
    for path in python_files(root):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for item in code_downloads(text, path.relative_to(root).as_posix()) or []:
            if item.kind == "hub" and item.fn in MODEL_CALLS and item.target:
                found.append(item.target)
    return found
