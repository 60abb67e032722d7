"""DL002: wget/curl of a model host or a branch URL at build time, without a checksum."""

from __future__ import annotations

import re
from collections.abc import Iterator

from carpenter.core.lazyre import lazy_compile
from carpenter.model.shell import scripts_of
from carpenter.scan.context import ScanContext
from carpenter.scan.downloads import CHECKSUM_TOOLS, url_concern
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule

FETCHERS = frozenset({"wget", "curl", "aria2c", "axel", "gdown"})
_URL = lazy_compile(r"^[a-z][a-z0-9+.\-]*://", re.IGNORECASE)


class UnpinnedUrlDownload(Rule):
    """Report `wget`/`curl` downloads of moving URLs that nothing verifies.

    ## What it does
    Checks the URLs that `wget`, `curl`, `aria2c` and `gdown` fetch in RUN instructions. A URL
    on a model or data host (Hugging Face, Google Drive, Dropbox, S3, Zenodo...) without a commit
    in it, or a URL that follows a branch (`/resolve/main/`, `raw.githubusercontent.com/<repo>/
    main/`, `archive/refs/heads/main.zip`), is reported unless the same RUN verifies a checksum
    (`sha256sum -c`). Versioned release assets and URLs with a commit sha are fine.

    ## Why it matters
    The file behind the URL changes (or disappears) and the image changes with it, silently.

    ## Example
    ```dockerfile
    RUN wget https://huggingface.co/org/model/resolve/main/adapter_model.bin
    ```

    ## Fix
    Put the commit in the URL (`/resolve/<sha>/`), or check the file:
    `echo "<sha256>  adapter_model.bin" | sha256sum -c`.

    ```dockerfile
    RUN wget https://huggingface.co/org/model/resolve/<40-hex commit>/adapter_model.bin \\
        && echo "<sha256>  adapter_model.bin" | sha256sum -c -
    ```
    """

    id = "DL002"
    name = "unpinned-url-download"
    category = "build-time-download"
    severity = "warning"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for inst in ctx.dockerfile.instructions:
            if inst.keyword != "RUN":
                continue
            for script in scripts_of(inst):
                if script.kind != "shell" or CHECKSUM_TOOLS.search(script.text):
                    continue
                for cmd in script.commands:
                    words, _ = cmd.effective()
                    if not words or words[0].text.rsplit("/", 1)[-1] not in FETCHERS:
                        continue
                    tool = words[0].text.rsplit("/", 1)[-1]
                    for word in words[1:]:
                        url = word.text
                        if not _URL.match(url) and tool != "gdown":
                            continue
                        concern = url_concern(url) if _URL.match(url) else \
                            "downloads a Google Drive file without a checksum"
                        if concern is None:
                            continue
                        yield self.at(ctx, word.offset, word.end_offset,
                                      f"{tool} {url!r} {concern}",
                                      fix_hint="pin a commit in the URL or verify a sha256 "
                                               "checksum in the same RUN", url=url)
