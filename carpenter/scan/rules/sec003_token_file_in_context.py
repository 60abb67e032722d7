"""SEC003: a credentials file (.env, .netrc, Hugging Face token...) in the build context."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.source import SourceFile
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule
from carpenter.scan.secrets import token_file_patterns


class TokenFileInContext(Rule):
    """Report credential files that the build sends to Docker or copies into the image.

    ## What it does
    Matches the context's files against a list of credential files (carpenter/data/secrets.toml:
    `.cache/huggingface/token`, `.huggingface/token`, `stored_tokens`, `.netrc`,
    `.git-credentials`, `.env`, `kaggle.json`, `.aws/credentials`, `.pypirc`, private keys)
    that `.dockerignore` does not exclude. An error when a COPY/ADD puts the file in the image
    (at that COPY), a warning when it is only sent to the builder (at the file).

    ## Why it matters
    `COPY . .` of a home-like folder ships the token file into every layer that follows, even
    if the token in it has an unknown shape. `huggingface_hub` and `wandb` read these files on
    their own, so the image silently authenticates as you.

    ## Example
    ```dockerfile
    COPY . /app   # the context holds .cache/huggingface/token
    ```

    ## Fix
    Add the files to `.dockerignore` (`**/.cache/huggingface`, `.env*`, `.netrc`...), revoke the
    token, and pass credentials with `--secret`.

    ```text
    # .dockerignore
    **/.cache/huggingface
    .env*
    .netrc
    ```
    """

    id = "SEC003"
    name = "token-file-in-context"
    category = "secret"
    severity = "error"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        context = ctx.build_context
        if context is None:
            return
        patterns, exempt, gate = token_file_patterns()
        sources = context.copy_sources(ctx.dockerfile)
        for rel in context.sent_files():
            if not gate.match(rel.rsplit("/", 1)[-1]):
                continue
            if not patterns.excludes(rel) or exempt.excludes(rel):
                continue
            copier = next((s for s in sources if any(
                m == "." or rel == m or rel.startswith(m + "/") for m in s.matches)), None)
            if copier is not None:
                yield self.at(
                    ctx, copier.offset, copier.end_offset,
                    f"{copier.inst.keyword} {copier.text!r} copies the credentials file {rel!r} "
                    "into the image",
                    fix_hint=f"add {rel!r} to .dockerignore and revoke what it holds",
                    secret_kind="credentials-file", file=rel, copied=True)
            else:
                source = SourceFile(ctx.display(context.fs_path(rel)), "")
                yield self.at(
                    ctx, 0, 0,
                    f"credentials file {rel!r} is sent to the builder with the build context",
                    source=source, severity="warning",
                    fix_hint=f"add {rel!r} to .dockerignore", secret_kind="credentials-file",
                    file=rel, copied=False)
