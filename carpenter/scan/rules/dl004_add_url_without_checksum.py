"""DL004: `ADD <url>` without `--checksum` (or a git URL without a commit)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from carpenter.core.lazyre import lazy_compile
from carpenter.model.context import source_words
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule

_URL = lazy_compile(r"^(?:https?|ftp)://", re.IGNORECASE)
_GIT = lazy_compile(r"^(?:git@|git://|https?://\S+\.git(?:[#?]|$))", re.IGNORECASE)


class AddUrlWithoutChecksum(Rule):
    """Report remote ADD sources that nothing pins.

    ## What it does
    Reports `ADD https://...` of a file without `--checksum=sha256:...`. Git repositories
    (`ADD https://github.com/org/repo.git#ref`) are GIT003's.

    ## Why it matters
    ADD fetches the URL on every uncached build; when the file or branch changes, the image
    changes without any change to the Dockerfile.

    ## Example
    ```dockerfile
    ADD https://example.org/tokenizer.json /app/
    ```

    ## Fix
    Add `--checksum=sha256:<digest>` (BuildKit, Dockerfile 1.6+), or download with `curl` and
    verify with `sha256sum -c`.

    ```dockerfile
    # syntax=docker/dockerfile:1.7
    ADD --checksum=sha256:<digest> https://example.org/tokenizer.json /app/
    ```
    """

    id = "DL004"
    name = "add-url-without-checksum"
    category = "build-time-download"
    severity = "warning"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for inst in ctx.dockerfile.instructions:
            if inst.keyword != "ADD":
                continue
            for text, start, end in source_words(inst):
                url = inst.expand(text)[0] if "$" in text else text
                if _GIT.match(url):
                    continue  # git sources: GIT003
                if _URL.match(url) and "checksum" not in inst.flags:
                    yield self.at(ctx, start, end,
                                  f"ADD {url!r} downloads at build time without --checksum",
                                  fix_hint="add --checksum=sha256:<digest>", url=url)
