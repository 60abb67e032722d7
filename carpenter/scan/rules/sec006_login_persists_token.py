"""SEC006: a `huggingface-cli login` / `wandb login` in RUN stores the token in the layer."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.shell import scripts_of
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule

LOGINS = {
    ("huggingface-cli", "login"): "HF_TOKEN",
    ("hf", "auth"): "HF_TOKEN",
    ("wandb", "login"): "WANDB_API_KEY",
}


class LoginPersistsToken(Rule):
    """Report CLI logins in RUN: they write the token into the image layer.

    ## What it does
    Finds `huggingface-cli login`, `hf auth login` and `wandb login` in RUN instructions,
    whatever the token's source (literal, variable, secret mount).

    ## Why it matters
    Login commands save the token to a file (`~/.cache/huggingface/token`, `~/.netrc`) that
    stays in the layer even when the token came from a secret mount, and ships with the image.

    ## Example
    ```dockerfile
    RUN --mount=type=secret,id=hf huggingface-cli login --token $(cat /run/secrets/hf)
    ```

    ## Fix
    Do not log in: set `HF_TOKEN` / `WANDB_API_KEY` for the one command that downloads, from a
    secret mount: `RUN --mount=type=secret,id=hf_token HF_TOKEN=$(cat /run/secrets/hf_token)
    huggingface-cli download ...`.

    ```dockerfile
    RUN --mount=type=secret,id=hf_token \\
        HF_TOKEN=$(cat /run/secrets/hf_token) \\
        huggingface-cli download meta-llama/Llama-2-7b-hf --revision <40-hex commit>
    ```
    """

    id = "SEC006"
    name = "login-persists-token"
    category = "secret"
    severity = "warning"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for inst in ctx.dockerfile.instructions:
            if inst.keyword != "RUN":
                continue
            for script in scripts_of(inst):
                for cmd in script.commands:
                    words, _ = cmd.effective()
                    if len(words) < 2:
                        continue
                    key = (words[0].text.rsplit("/", 1)[-1], words[1].text)
                    variable = LOGINS.get(key)
                    if variable is None or (key[0] == "hf" and (len(words) < 3
                                                                or words[2].text != "login")):
                        continue
                    yield self.at(
                        ctx, words[0].offset, words[-1].end_offset,
                        f"`{key[0]} {key[1]}` in RUN saves the token inside the image layer; "
                        f"set {variable} for the download command from a secret mount instead",
                        fix_hint=f"RUN --mount=type=secret,id=token {variable}=$(cat "
                                 "/run/secrets/token) <download command>",
                        variable=variable, secret_kind="login")
