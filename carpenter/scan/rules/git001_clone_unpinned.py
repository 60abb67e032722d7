"""GIT001: `git clone` without a checkout of a fixed commit."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.git import (
    SHA_40,
    checkouts_after,
    clone_of,
    git_calls,
    is_tag_like,
    pin_index,
)
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import GitClone
from carpenter.scan.registry import Rule


class GitCloneUnpinned(Rule):
    """Flag `git clone` that is not followed by a checkout of a 40-hex commit.

    ## What it does
    Follows each `git clone` (its target folder, through `cd`, `git -C` and WORKDIR, in the
    same or a later RUN of the stage) and looks for `git checkout|switch|reset|fetch <sha>`
    with a full 40-hex commit. A clone of the default branch or of `--branch main` is a
    warning; a tag (`--branch v2.3.3` or `git checkout v2.3.3`) is an info finding, since
    tags rarely move but can.

    ## Why it matters
    A clone of a branch builds whatever the repository holds on the day of the rebuild:
    flash-attention, bitsandbytes or a training repo at HEAD need a newer torch than the
    2023 base image, or changed their API.

    ## Example
    ```dockerfile
    RUN git clone https://github.com/Dao-AILab/flash-attention && \\
        cd flash-attention && python setup.py install
    ```

    ## Fix
    Check out the tested commit: `git clone URL repo && git -C repo checkout <40-hex sha>`
    (`carpenter fix` can add it from a snapshot).

    ```dockerfile
    RUN git clone https://github.com/Dao-AILab/flash-attention && \\
        git -C flash-attention checkout <40-hex commit> && \\
        cd flash-attention && python setup.py install
    ```
    """

    id = "GIT001"
    name = "git-clone-unpinned"
    category = "unpinned-git"
    severity = "warning"
    fixable = True

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for stage in ctx.dockerfile.stages:
            calls = git_calls(stage)
            index = pin_index(calls)
            for call in calls:
                clone = clone_of(call)
                if clone is None:
                    continue
                if clone.revision and SHA_40.match(clone.revision):
                    continue
                refs = checkouts_after(calls, clone, index)
                if any(SHA_40.match(ref) for ref in refs):
                    continue
                tag = next((r for r in refs if is_tag_like(r)), None)
                if tag is None and is_tag_like(clone.branch):
                    tag = clone.branch
                if tag is not None:
                    message = f"git clone {clone.url_text} checks out the tag {tag}: tags can move"
                    severity = "info"
                else:
                    ref = (refs[-1] if refs else None) or clone.branch or "the default branch"
                    message = f"git clone {clone.url_text} builds {ref} as it is at build time"
                    severity = None
                yield self.at(
                    ctx, clone.url.offset, clone.url.end_offset, message,
                    fix_hint="check out a commit: git -C <dir> checkout <40-hex sha>",
                    severity=severity,
                    payload=GitClone(url=clone.url_text,
                                     ref=tag or (refs[-1] if refs else clone.branch),
                                     directory=clone.target),
                )
