"""DL003: an installer piped from the network into a shell (`curl ... | bash`)."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.core.lazyre import lazy_compile
from carpenter.model.shell import scripts_of
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule

PIPE = lazy_compile(
    r"\b(?:curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:env\s+\S+=\S+\s+)*"
    r"(?:/usr/bin/|/bin/)?(?:ba|z|da|k)?sh\b|"
    r"\b(?:curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+)?python\d*(?:\.\d+)?\b|"
    r"\b(?:ba|z)?sh\s+(?:-\S+\s+)*<\(\s*(?:curl|wget)\b|"
    r"\b(?:ba|z)?sh\s+-c\s+[\"']?\$\(\s*(?:curl|wget)\b"
)


class PipeToShell(Rule):
    """Report scripts downloaded and executed in one step.

    ## What it does
    Finds `curl ... | bash`, `wget -O- ... | sh`, `curl ... | python`, `bash <(curl ...)` and
    `sh -c "$(curl ...)"` in RUN instructions, including heredocs and `sh -c` strings.

    ## Why it matters
    The installer is whatever the server returns on the day of the build: a new version, a
    changed default, or nothing at all. Nothing pins or verifies it.

    ## Example
    ```dockerfile
    RUN curl -fsSL https://get.example.sh | bash
    ```

    ## Fix
    Download a versioned installer, verify its sha256, then run it; or install the tool from a
    pinned package.

    ```dockerfile
    RUN curl -fsSLo install.sh https://get.example.sh/v1.4.2/install.sh \\
        && echo "<sha256>  install.sh" | sha256sum -c - \\
        && bash install.sh
    ```
    """

    id = "DL003"
    name = "pipe-to-shell"
    category = "build-time-download"
    severity = "warning"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        seen: set[int] = set()
        for inst in ctx.dockerfile.instructions:
            if inst.keyword != "RUN":
                continue
            for script in scripts_of(inst):
                if script.kind != "shell":
                    continue
                text = script.text
                for match in PIPE.finditer(text):
                    start = script.offset + match.start()
                    if start in seen:
                        continue
                    seen.add(start)
                    raw = ctx.source.text[start:script.offset + match.end()]
                    if raw != match.group(0):
                        continue  # offsets of a rewritten script (sh -c body) do not line up
                    yield self.at(ctx, start, script.offset + match.end(),
                                  "a script downloaded at build time is executed without a "
                                  "pinned version or checksum",
                                  fix_hint="download a versioned installer, check its sha256, "
                                           "then run it")
