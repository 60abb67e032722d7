"""SH002: a `<placeholder>` left in a command, which the shell reads as a redirect."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.shell import all_commands
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class PlaceholderRedirect(Rule):
    """Flag `<your_token>`-style placeholders in shell commands.

    ## What it does
    Finds an input redirect whose target is immediately followed by `>`, i.e. text written
    as `<something>` in a RUN, CMD or ENTRYPOINT shell command.

    ## Why it matters
    A placeholder copied from a README (`--model <model_name>`) is not text to the shell:
    `<model_name` reads a file and `>` writes one. The build fails with "No such file or
    directory", or the container start does.

    ## Example
    ```dockerfile
    RUN huggingface-cli download <model_id> --local-dir /models
    ```

    ## Fix
    Replace the placeholder with the real value, a build argument (`${MODEL_ID}`), or quote
    it if the angle brackets are meant literally.

    ```dockerfile
    ARG MODEL_ID=meta-llama/Llama-2-7b-hf
    RUN huggingface-cli download "${MODEL_ID}" --local-dir /models
    ```
    """

    id = "SH002"
    name = "placeholder-redirect"
    category = "shell-bug"
    severity = "error"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        text = ctx.source.text
        for inst in ctx.dockerfile.instructions:
            if inst.keyword not in ("RUN", "CMD", "ENTRYPOINT"):
                continue
            for script, cmd in all_commands(inst):
                if script.kind != "shell" or script.via == "exec":
                    continue
                for redirect in cmd.redirects:
                    target = redirect.target
                    if redirect.op != "<" or target is None or target.quoted:
                        continue
                    if text[target.end_offset:target.end_offset + 1] != ">":
                        continue
                    placeholder = f"<{target.text}>"
                    yield self.at(
                        ctx, redirect.offset, target.end_offset + 1,
                        f"{placeholder} looks like a placeholder: the shell reads it as "
                        f"redirects from and to files",
                        fix_hint="put the real value (or a ${BUILD_ARG}) in place of "
                        f"{placeholder}",
                        placeholder=placeholder,
                    )
