"""CTX005: a COPY/ADD of a git submodule folder that is (or will be) empty."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class UninitialisedSubmodule(Rule):
    """Report copies of git submodules that are empty here or in a fresh clone.

    ## What it does
    Finds git submodules (gitlinks) inside the copied paths. A submodule folder that is empty
    now is an error; one that is checked out here is a warning, because a plain `git clone`
    (without `--recurse-submodules`) leaves it empty.

    ## Why it matters
    The COPY succeeds with an empty folder; the failure appears later as a missing module or a
    `setup.py` not found, far from its cause.

    ## Example
    ```dockerfile
    COPY third_party/lit-gpt /app/lit-gpt
    ```

    ## Fix
    Clone with `--recurse-submodules` (say so in the README), or vendor the code, or `git clone`
    it in the Dockerfile at a pinned commit.

    ```dockerfile
    RUN git clone https://github.com/Lightning-AI/lit-gpt /app/lit-gpt \\
        && git -C /app/lit-gpt checkout <40-hex commit>
    ```
    """

    id = "CTX005"
    name = "uninitialised-submodule"
    category = "host-local-artifact"
    severity = "error"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        context = ctx.build_context
        if context is None or context.git is None or not context.git.submodules:
            return
        git = context.git
        for source in context.copy_sources(ctx.dockerfile):
            seen = set()
            for match in source.matches:
                for sub in git.submodules.values():
                    inside = match == "." or sub.rel == match or sub.rel.startswith(match + "/")
                    if not (inside or match.startswith(sub.rel + "/")) or sub.rel in seen:
                        continue
                    seen.add(sub.rel)
                    url = f" ({sub.url})" if sub.url else ""
                    if not sub.initialised:
                        message = (f"{source.inst.keyword} {source.text!r} copies the submodule "
                                   f"{sub.rel!r}{url}, which is not checked out: the image gets "
                                   "an empty folder")
                        severity = "error"
                    else:
                        message = (f"{source.inst.keyword} {source.text!r} copies the submodule "
                                   f"{sub.rel!r}{url}: a clone without --recurse-submodules "
                                   "leaves it empty and builds a broken image")
                        severity = "warning"
                    yield self.at(ctx, source.offset, source.end_offset, message,
                                  severity=severity,
                                  fix_hint="git submodule update --init --recursive, or vendor "
                                           "the code / clone it at a pinned commit",
                                  submodule=sub.rel, url=sub.url or "")
