"""GIT003: `ADD <git repository>` without a commit."""

from __future__ import annotations

import json
from collections.abc import Iterator

from carpenter.core.lazyre import lazy_compile
from carpenter.model.git import SHA_40, is_tag_like
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule

_GIT_URL = lazy_compile(r"^(?:git@[^:]+:|git://|ssh://|https?://[^#\s]+\.git(?:#|$))")


def _sources(inst) -> list[tuple[str, int, int]]:
    """ADD sources with file offsets, shell form or JSON form."""
    if inst.json_args is None:
        return [(t.text, t.offset, t.end_offset) for t in inst.tokens[:-1]]
    out, at = [], 0
    for item in inst.json_args[:-1]:
        found = inst.args.find(json.dumps(item), at)
        start = inst.args_offset + max(found, 0)
        out.append((item, start, start + (len(json.dumps(item)) if found >= 0 else 0)))
        at = max(found, at)
    return out


def git_ref(url: str) -> str | None:
    """The `#ref[:subdir]` of a BuildKit git URL."""
    if "#" not in url:
        return None
    ref = url.split("#", 1)[1].split(":", 1)[0]
    return ref or None


class AddGitUnpinned(Rule):
    """Flag `ADD` of a git repository without a 40-hex commit.

    ## What it does
    BuildKit's `ADD https://github.com/org/repo.git#ref` clones a repository. The rule
    reports such sources unless `#ref` is a full commit or `--checksum=<commit>` is given;
    a tag is an info finding.

    ## Why it matters
    Without a commit, `ADD` of a repository copies whatever its branch holds at build time.

    ## Example
    ```dockerfile
    ADD https://github.com/tloen/alpaca-lora.git /src/alpaca-lora
    ```

    ## Fix
    `ADD https://github.com/tloen/alpaca-lora.git#<40-hex sha> /src/alpaca-lora`.

    ```dockerfile
    ADD https://github.com/tloen/alpaca-lora.git#<40-hex commit> /src/alpaca-lora
    ```
    """

    id = "GIT003"
    name = "add-git-unpinned"
    category = "unpinned-git"
    severity = "warning"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for inst in ctx.dockerfile.instructions:
            if inst.keyword != "ADD" or "checksum" in inst.flags:
                continue
            for text, start, end in _sources(inst):
                url = inst.expand(text)[0]
                if not _GIT_URL.match(url):
                    continue
                ref = git_ref(url)
                if ref and SHA_40.match(ref):
                    continue
                if is_tag_like(ref):
                    message, severity = f"ADD {url} uses the tag {ref}: tags can move", "info"
                else:
                    moving = f"the branch {ref}" if ref else "the default branch"
                    message, severity = f"ADD {url} copies {moving} as it is at build time", None
                yield self.at(ctx, start, end, message, severity=severity,
                              fix_hint="add the commit: URL.git#<40-hex sha>", url=url, ref=ref)
