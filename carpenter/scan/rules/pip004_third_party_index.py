"""PIP004: packages come from an index other than PyPI."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.core.lazyre import lazy_compile
from carpenter.scan.context import ScanContext
from carpenter.scan.facts import pip_uses
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule

PYPI_HOSTS = frozenset({"pypi.org", "pypi.python.org", "files.pythonhosted.org"})
INDEX_OPTIONS = frozenset(
    {"--index-url", "--extra-index-url", "--index", "--default-index", "--find-links"}
)
_CREDENTIALS = lazy_compile(r"(://)[^/@\s]+@")


def shown(url: str) -> str:
    """The URL without credentials (`https://user:token@host` must never be printed)."""
    return _CREDENTIALS.sub(r"\1***@", url)


def third_party(url: str | None) -> bool:
    if not url or "$" in url:
        return False
    from urllib.parse import urlsplit  # with ipaddress: only for a command naming an index

    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return bool(host) and host not in PYPI_HOSTS


class PipThirdPartyIndex(Rule):
    """Note `--index-url`/`--extra-index-url`/`--find-links` pointing somewhere other than PyPI.

    ## What it does
    Reports index options (and remote `--find-links` pages such as PyTorch's
    `torch_stable.html`) on pip/uv command lines and in the requirements files they read
    when the host is not PyPI (for example the PyTorch or NVIDIA wheel indexes, a nightly
    index, or a private mirror). Credentials in the URL are masked.

    ## Why it matters
    Third-party indexes publish no upload dates (a date-snapshot resolver cannot see what
    they offered in 2023), often keep only recent versions (nightly indexes delete old
    builds), and `--extra-index-url` lets a same-named package on either index win.

    ## Example
    ```dockerfile
    RUN pip install --pre torch --index-url https://download.pytorch.org/whl/nightly/cu121
    ```

    ## Fix
    Pin exact versions (ideally with hashes) so the index only serves known files; prefer
    PyPI releases, and keep private mirrors out of submissions.

    ```dockerfile
    RUN pip install torch==2.1.0+cu121 --index-url https://download.pytorch.org/whl/cu121
    ```
    """

    id = "PIP004"
    name = "pip-third-party-index"
    category = "unpinned-pip"
    severity = "info"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for use in pip_uses(ctx):
            for option in use.install.index_urls + use.install.option_values("--find-links"):
                if third_party(option.value):
                    word = option.value_word or option.word
                    yield self._finding(ctx, option.name, option.value or "", word.offset,
                                        word.end_offset, None)
            for inc in use.files:
                for line in inc.file.lines:
                    for option in line.options:
                        if option.name in INDEX_OPTIONS and third_party(option.value):
                            yield self._finding(ctx, option.name, option.value or "",
                                                option.offset, option.end_offset,
                                                inc.file.source)

    def _finding(self, ctx, option: str, url: str, start: int, end: int, source) -> Finding:
        nightly = " (a nightly index: its builds are deleted)" if "nightly" in url else ""
        return self.at(
            ctx, start, end, f"{option} {shown(url)}: packages come from a third-party index"
            f"{nightly}", fix_hint="pin exact versions with hashes, or install from PyPI",
            source=source, url=shown(url), option=option,
        )
