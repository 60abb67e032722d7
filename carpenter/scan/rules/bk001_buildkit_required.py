"""BK001: the Dockerfile uses syntax only BuildKit understands."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class BuildkitRequired(Rule):
    """Note each feature that needs BuildKit (heredocs, `RUN --mount`, `COPY --link`...).

    ## What it does
    Lists the `# syntax=` directive, heredocs (`RUN <<EOF`, `COPY <<EOF`), `RUN --mount`,
    `--network`, `--security`, and `COPY`/`ADD` `--chmod`, `--link`, `--parents`,
    `--exclude`, `--checksum`, `--keep-git-dir`.

    ## Why it matters
    The legacy builder (`DOCKER_BUILDKIT=0`, old CI runners, Docker < 23 defaults) rejects
    or misreads these: a heredoc becomes unknown instructions, `--mount` an error.
    Whoever rebuilds the submission must use BuildKit (`docker buildx build`).

    ## Example
    ```dockerfile
    RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt
    ```

    ## Fix
    Nothing to fix: build with BuildKit (Carpenter's `rebuild` does). To support the legacy
    builder, replace the feature (e.g. a heredoc with a COPY of a script).

    ```dockerfile
    # legacy builder: no cache mount, same result
    RUN pip install --no-cache-dir -r requirements.txt
    ```
    """

    id = "BK001"
    name = "buildkit-required"
    category = "buildkit"
    severity = "info"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        source = ctx.source
        for reason, inst in ctx.dockerfile.buildkit_features():
            if inst is None:
                start, end = 0, len(source.line_text(1))
            else:
                start, end = inst.offset, inst.offset + len(inst.raw_keyword)
            yield self.at(ctx, start, end, f"{reason} needs BuildKit (the legacy builder "
                          "fails or ignores it)", fix_hint="build with BuildKit "
                          "(docker buildx build)", feature=reason)
