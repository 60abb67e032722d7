"""SEC005: a secret-named ENV/ARG without a literal secret: use a build secret instead."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.variables import split_assignments
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import SecretMove
from carpenter.scan.registry import Rule
from carpenter.scan.secrets import find_assignment_secrets, is_placeholder, is_secret_name


class SecretBuildVariable(Rule):
    """Recommend build secrets for secret-named ENV/ARG that hold placeholders or variables.

    ## What it does
    Reports `ENV`/`ARG` whose name says it holds a credential (`HF_TOKEN`,
    `HUGGINGFACE_TOKEN`, `WANDB_API_KEY`, `*_PASSWORD`... the rule Docker's
    `SecretsUsedInArgOrEnv` check uses) when the value is not a literal secret: empty, a
    placeholder (`<your token>`, `hf_xxxx`), or a variable. Literal secrets are SEC001.
    `ENV X=$ARG` is a warning: whatever is passed with `--build-arg` is then stored in the image.

    ## Why it matters
    The line invites the next person to paste a real token into it (the 2023 starter kit asked
    for `ENV HUGGINGFACE_TOKEN`), and `--build-arg` values are kept in `docker history`.

    ## Example
    ```dockerfile
    ARG HF_TOKEN
    ENV HUGGINGFACE_TOKEN=$HF_TOKEN
    ```

    ## Fix
    Drop the ENV/ARG and mount the secret where it is used: `RUN --mount=type=secret,id=hf_token
    HF_TOKEN=$(cat /run/secrets/hf_token) python download.py`, built with `docker build --secret
    id=hf_token,env=HF_TOKEN .`.

    ```dockerfile
    RUN --mount=type=secret,id=hf_token \\
        HF_TOKEN=$(cat /run/secrets/hf_token) python download.py
    ```
    """

    id = "SEC005"
    name = "secret-build-variable"
    category = "secret"
    severity = "info"
    fixable = True  # carpenter fix moves the variable to RUN --mount=type=secret
    hadolint = ("DL3064",)

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for inst in ctx.dockerfile.instructions:
            if inst.keyword not in ("ENV", "ARG"):
                continue
            pairs = split_assignments(inst.args)
            if inst.keyword == "ENV" and pairs and pairs[0][1] is None and len(inst.tokens) > 1:
                pairs = [(pairs[0][0], inst.args.strip().partition(" ")[2].strip())]
            for name, value in pairs:
                if not is_secret_name(name):
                    continue
                if value and find_assignment_secrets(name, value):
                    continue  # a literal secret: SEC001
                if value is not None and value.strip() and not is_placeholder(value):
                    continue  # some other value (a path, a flag): not a credential
                token = next((t for t in inst.tokens if t.text.split("=", 1)[0] == name),
                             inst.tokens[0] if inst.tokens else None)
                start, end = (token.offset, token.end_offset) if token else (inst.offset,
                                                                             inst.end_offset)
                from_variable = bool(value) and value.strip().startswith("$")
                severity = "warning" if inst.keyword == "ENV" and from_variable else "info"
                if severity == "warning":
                    message = (f"ENV {name} copies a build variable into the image "
                               "configuration: any token passed with --build-arg is stored in "
                               "the image; use a build secret")
                else:
                    what = "no value" if not value else "a placeholder"
                    message = (f"{inst.keyword} {name} is meant to hold a credential ({what} "
                               "here): pass it as a build secret (RUN --mount=type=secret) "
                               "instead of an ENV/ARG")
                yield self.at(ctx, start, end, message, severity=severity,
                              fix_hint="RUN --mount=type=secret,id=<id> and docker build "
                                       "--secret id=<id>,env=" + name,
                              payload=SecretMove(secret_kind="placeholder", variable=name))
