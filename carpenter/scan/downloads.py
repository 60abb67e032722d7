"""What counts as a build-time download, and when it is pinned (shared by the DL rules).

Model hosts, branch URLs and Hub calls are data-like lists kept here as regexes because they
are matching logic, not facts that change per release.
"""

from __future__ import annotations

import re
from functools import lru_cache

from carpenter.core.lazyre import lazy_compile
from carpenter.core.patterncache import compile_cached
from carpenter.core.records import record

SHA40 = lazy_compile(r"\b[0-9a-f]{40}\b")
# Hosts that serve weights or datasets.
MODEL_HOST = lazy_compile(
    r"(?i)^(?:https?://)?(?:[\w-]+\.)*(?:huggingface\.co|hf\.co|cdn-lfs[\w.-]*\.hf\.co|"
    r"civitai\.com|drive\.google\.com|docs\.google\.com|dropbox\.com|dl\.dropboxusercontent\.com|"
    r"zenodo\.org|storage\.googleapis\.com|s3[\w.-]*\.amazonaws\.com|modelscope\.cn|"
    r"kaggle\.com|figshare\.com|onedrive\.live\.com|1drv\.ms|ollama\.com|wandb\.ai)(?:[:/]|$)"
)
# URLs whose content follows a branch (moves with every push).
BRANCH_URL = lazy_compile(
    r"(?i)/(?:resolve|raw|blob|tree)/(?:main|master|dev|develop|latest)/|"
    r"raw\.githubusercontent\.com/[^/]+/[^/]+/(?:main|master|dev|develop|HEAD)/|"
    r"/archive/(?:refs/heads/)?(?:main|master|dev|develop)\.(?:zip|tar\.gz)|"
    r"/releases/latest/|/-/raw/(?:main|master)/|/refs/heads/"
)
CHECKSUM_TOOLS = lazy_compile(r"\b(?:sha(?:1|224|256|384|512)sum|md5sum|b2sum)\b[^|;&\n]*-c\b|"
                            r"\bshasum\b[^|;&\n]*-c\b|--checksum|--hash|\bhashlib\b")
# Python calls that fetch from the Hub (or another hub) when given a repo id.
HUB_CALL = lazy_compile(
    r"\b(?P<fn>snapshot_download|hf_hub_download|from_pretrained|load_dataset|"
    r"torch\.hub\.load|hub\.load|hf_hub_url|cached_download|download_url)\s*\("
)
REPO_ID = lazy_compile(
    r"""^\s*(?:repo_id\s*=\s*|pretrained_model_name_or_path\s*=\s*|path\s*=\s*)?"""
    r"""["'](?P<id>[A-Za-z0-9][\w.\-]*/[\w.\-]+|[A-Za-z0-9][\w.\-]+)["']"""
)
REVISION = lazy_compile(r"""\brevision\s*=\s*["'](?P<rev>[^"']+)["']""")
_RELEASE_ASSET = lazy_compile(r"/releases/download/v?\d")


@record(eq=False, slots=True)
class HubCall:
    """A call that downloads from the Hugging Face Hub, found in a script's text."""

    fn: str
    start: int  # offsets in the scanned text
    end: int
    repo: str | None
    revision: str | None

    @property
    def pinned(self) -> bool:
        return bool(self.revision and SHA40.fullmatch(self.revision))


def hub_calls(code: str) -> list[HubCall]:
    """Hub downloads in Python source: calls given a literal repo id (local paths skipped)."""
    out = []
    for match in HUB_CALL.finditer(code):
        args_end = _call_end(code, match.end())
        args = code[match.end():args_end]
        repo_match = REPO_ID.match(args)
        repo = repo_match.group("id") if repo_match else None
        fn = match.group("fn")
        if repo is None and fn not in ("snapshot_download", "hf_hub_download", "load_dataset"):
            continue  # from_pretrained(variable or path): cannot tell, stay quiet
        if repo is not None and fn in ("from_pretrained", "torch.hub.load", "hub.load") \
                and "/" not in repo:
            continue  # a bare name is usually a local folder
        if repo is not None and repo.startswith((".", "/")):
            continue
        revision = REVISION.search(args)
        out.append(HubCall(fn, match.start(), args_end + 1, repo,
                           revision.group("rev") if revision else None))
    return out


def _call_end(code: str, start: int) -> int:
    depth = 1
    i = start
    limit = min(len(code), start + 2000)
    quote = ""
    while i < limit:
        char = code[i]
        if quote:
            if char == quote and code[i - 1] != "\\":
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return min(i, len(code))


def url_is_pinned(url: str) -> bool:
    """An immutable URL: a commit sha in it, or a versioned release asset."""
    if SHA40.search(url):
        return True
    return _RELEASE_ASSET.search(url) is not None


def url_concern(url: str) -> str | None:
    """Why fetching this URL at build time is a reproducibility problem, or None."""
    if url_is_pinned(url):
        return None
    if BRANCH_URL.search(url):
        return "follows a branch, so its content changes"
    if MODEL_HOST.match(url):
        return "downloads weights or data from a model host without a pinned revision"
    return None


@lru_cache(maxsize=1)
def _gated_patterns() -> re.Pattern[str]:
    import fnmatch

    from carpenter.core.errors import ConfigError
    from carpenter.core.resources import data_file
    from carpenter.core.tomldata import TomlDataError, load_toml_data

    path = data_file("gated_models.toml")
    try:
        patterns = load_toml_data(path)["patterns"]
    except (OSError, TomlDataError, KeyError) as exc:
        raise ConfigError(f"cannot load the gated model list: {exc}", path=path) from None
    return compile_cached("|".join(fnmatch.translate(p.lower()) for p in patterns))


def is_gated(repo: str | None) -> bool:
    """Whether a Hub repo id is gated (needs an accepted licence and a token)."""
    return bool(repo) and _gated_patterns().match(repo.lower()) is not None  # type: ignore[union-attr]


def hub_fix_hint(repo: str | None, option: str = 'revision="<40-character commit sha>"') -> str:
    """Pin the revision or move the download to run time; say when the repo needs a token."""
    hint = f"pass {option}, or download at run time and mount the weights"
    if is_gated(repo):
        hint += f"; {repo} is gated: the build needs a token, pass it with --secret (never ARG/ENV)"
    return hint
