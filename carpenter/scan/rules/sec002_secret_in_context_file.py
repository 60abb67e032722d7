"""SEC002: a credential in a text file of the build context."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule
from carpenter.scan.secrets import context_secrets, fingerprint_of, masked


class SecretInContextFile(Rule):
    """Report tokens and keys in the files the build sends to Docker.

    ## What it does
    Runs detect-secrets (no network verification; its entropy and IP plugins off) with
    Carpenter's own plugins for what it misses (Hugging Face and W&B tokens, unquoted values,
    random values under secret names) over every text file of the build context that
    `.dockerignore` lets through: code, notebooks (sources and outputs), JSON/YAML/TOML/INI
    configuration, `.env`, shell scripts, Markdown. Once per context, however many Dockerfiles
    share it. An error when a COPY/ADD puts the file in the image, a warning otherwise.

    ## Why it matters
    Everything in the context is sent to the builder and usually committed; a file copied into
    the image ships the token to everyone who pulls it, and deleting it in a later layer does not
    remove it.

    ## Example
    ```python
    # download.py
    snapshot_download("meta-llama/Llama-2-7b-hf", token="hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh")
    ```

    ## Fix
    Revoke the token, read it from the environment (`os.environ["HF_TOKEN"]`) and pass it as a
    build or run-time secret; add `.env` and token files to `.dockerignore`.

    ```python
    # download.py
    snapshot_download("meta-llama/Llama-2-7b-hf", token=os.environ["HF_TOKEN"])
    ```
    """

    id = "SEC002"
    name = "secret-in-context-file"
    category = "secret"
    severity = "error"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        context = ctx.build_context
        if context is None:
            return
        found = context_secrets(context)
        for rel, hit in found.hits:
            source = ctx.context_file(rel)
            if source is None:
                continue
            line_start = source.offset_of(hit.line)
            line = source.line_text(hit.line)
            col = line.find(hit.value) if hit.value else -1
            start = line_start + max(col, 0)
            end = start + (len(hit.value) if col >= 0 else len(line))
            copied = context.is_copied(rel, ctx.dockerfile)
            where = "copied into the image" if copied else "sent to the builder"
            yield self.at(
                ctx, start, end,
                f"{hit.title} {masked(hit.kind, hit.value, hit.prefix)} in a file {where}: "
                "revoke it and read it from a secret at build or run time",
                source=source, severity="error" if copied else "warning",
                fix_hint="rotate the token; read it from the environment and pass it with "
                         "--secret; list token files in .dockerignore",
                secret_kind=hit.kind, variable=hit.variable,
                fingerprint=fingerprint_of(hit.value), copied=copied)
