"""SEC001: a credential written into the Dockerfile (ENV, ARG default, RUN words, comments)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

from carpenter.model.dockerfile import Instruction
from carpenter.model.shell import scripts_of
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import SecretMove
from carpenter.scan.registry import Rule
from carpenter.scan.secrets import (
    SECRET_OPTIONS,
    Hit,
    find_secrets_in_file_text,
    fingerprint_of,
    looks_random,
    masked,
)


class SecretInDockerfile(Rule):
    """Report tokens, keys and passwords written into the Dockerfile.

    ## What it does
    Looks for credentials by shape anywhere in the Dockerfile, comments included: Hugging Face
    tokens (`hf_` + 34 characters, org tokens `api_org_`), W&B keys (40 hex next to a `wandb`
    keyword, `wandb_v1_` keys), GitHub, AWS, OpenAI-style, PyPI, Google and Slack tokens,
    private keys, passwords in URLs (`git clone https://user:token@...`), and random-looking
    values under secret names (`HF_TOKEN=...`, `--token ...`), quoted or not. Placeholders
    (`<your token>`, `hf_xxxx`, `$HF_TOKEN`, a repo id) are not reported here. Nothing is
    verified over the network; messages show a prefix, at most 4 characters and a fingerprint.

    ## Why it matters
    `ENV` values live in the image configuration (`docker inspect`), `ARG` values used by `RUN`
    show in `docker history`, and the Dockerfile itself sits in the repository. The 2023 starter
    kit asked for `ENV HUGGINGFACE_TOKEN`; tokens leaked that way must be rotated.

    ## Example
    ```dockerfile
    ENV HUGGINGFACE_TOKEN=hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh
    RUN huggingface-cli login --token hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh
    ```

    ## Fix
    Revoke the token, then pass it as a build secret for the one command that needs it:
    `RUN --mount=type=secret,id=hf_token HF_TOKEN=$(cat /run/secrets/hf_token) python
    download.py` and `docker build --secret id=hf_token,env=HF_TOKEN .`

    ```dockerfile
    RUN --mount=type=secret,id=hf_token \\
        HF_TOKEN=$(cat /run/secrets/hf_token) python download.py
    ```
    """

    id = "SEC001"
    name = "secret-in-dockerfile"
    category = "secret"
    severity = "error"
    fixable = True  # carpenter fix: value removed, use moved to RUN --mount=type=secret

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        hits = find_secrets_in_file_text(ctx.source.text)
        covered = [(h.start, h.end) for h in hits]
        hits += [h for h in _option_values(ctx) if not _overlaps(h, covered)]
        for hit in sorted(hits, key=lambda h: h.start):
            inst = _instruction_at(ctx, hit.start)
            where = f"{inst.keyword} " if inst else "a comment "
            variable = _assigned_name(inst, hit) if inst else None
            shown = masked(hit.kind, hit.value, hit.prefix)
            message = (f"{hit.title} {shown} written in {where.strip()}"
                       f"{f' {variable}' if variable else ''}: anyone with the repository or "
                       "the image can read it; revoke it and pass it as a build secret")
            yield self.at(
                ctx, hit.start, hit.end, message,
                fix_hint="rotate the token; use RUN --mount=type=secret,id=... and "
                         "docker build --secret",
                payload=SecretMove(
                    secret_kind=hit.kind, variable=variable or hit.variable,
                    fingerprint=fingerprint_of(hit.value), confidence=hit.confidence,
                    instruction=inst.keyword if inst else None,
                ))


def _option_values(ctx: ScanContext) -> list[Hit]:
    """Random-looking values after `--token`, `--password`... (any shape)."""
    out: list[Hit] = []
    for inst in ctx.dockerfile.instructions:
        if inst.keyword not in ("RUN", "CMD", "ENTRYPOINT"):
            continue
        for script in scripts_of(inst):
            for cmd in script.commands:
                words = cmd.words
                for prev, word in pairwise(words):
                    option, _, inline = prev.text.partition("=")
                    if SECRET_OPTIONS.match(option) and not inline and looks_random(word.text):
                        start = word.offset + (1 if word.raw[:1] in "\"'" else 0)
                        out.append(Hit("generic-secret", f"value of {option}", start,
                                       start + len(word.text), word.text, "", "medium", "HF_TOKEN"))
    return out


def _overlaps(hit: Hit, covered: list[tuple[int, int]]) -> bool:
    return any(s < hit.end and hit.start < e for s, e in covered)


def _instruction_at(ctx: ScanContext, offset: int) -> Instruction | None:
    for inst in ctx.dockerfile.instructions:
        if inst.offset <= offset < max(inst.end_offset, inst.offset + 1):
            return inst
    return None


def _assigned_name(inst: Instruction, hit: Hit) -> str | None:
    """`HF_TOKEN` for a hit inside `ENV HF_TOKEN=...` / `ARG` / `RUN HF_TOKEN=... cmd`."""
    if inst.keyword in ("ENV", "ARG"):
        for token in inst.tokens:
            if token.offset <= hit.start < token.end_offset:
                name = token.text.split("=", 1)[0]
                return name if "=" in token.text else inst.tokens[0].text
        return None
    for script in scripts_of(inst):
        for cmd in script.commands:
            for word in cmd.assignments + cmd.words:
                if word.offset <= hit.start < word.end_offset and "=" in word.text:
                    name = word.text.split("=", 1)[0]
                    if name.replace("_", "").isalnum():
                        return name
    return None
