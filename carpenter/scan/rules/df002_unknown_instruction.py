"""DF002: an instruction keyword Docker does not know, often a RUN that lost its keyword."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.dockerfile import KNOWN_INSTRUCTIONS
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule

# Words that start a shell command: a line beginning with one lost its RUN (or its `\`).
_SHELL_WORDS_TEXT = (
    "pip pip3 python python3 apt apt-get conda mamba micromamba git curl wget cd mkdir rm cp mv "
    "echo export chmod chown ln tar unzip make cmake bash sh source uv npm yum dnf apk "
    "huggingface-cli accelerate torchrun set sed ls cat"
)
SHELL_WORDS = frozenset(_SHELL_WORDS_TEXT.split())


class UnknownInstruction(Rule):
    """Flag lines whose first word is not a Dockerfile instruction.

    ## What it does
    Reports any instruction keyword outside Docker's set (`RUN`, `COPY`, `FROM`, ...). When the
    word is a shell command (`pip`, `apt-get`, `cd` ...), the message says the line most likely
    lost its `RUN` keyword or the previous line lost its trailing backslash.

    ## Why it matters
    `docker build` refuses the whole file with "unknown instruction". A continuation that lost
    its backslash is a classic edit mistake in long install commands.

    ## Example
    ```dockerfile
    RUN apt-get update
        apt-get install -y git
    ```

    ## Fix
    Put `RUN` in front of the command, or end the previous line with `\\` to continue it.

    ```dockerfile
    RUN apt-get update && \\
        apt-get install -y git=1:2.34.1-1ubuntu1.10
    ```
    """

    id = "DF002"
    name = "unknown-instruction"
    category = "shell-bug"
    severity = "error"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for inst in ctx.dockerfile.instructions:
            if inst.keyword in KNOWN_INSTRUCTIONS:
                continue
            end = inst.offset + len(inst.raw_keyword)
            if inst.raw_keyword.lower() in SHELL_WORDS:
                message = (
                    f"unknown instruction {inst.raw_keyword!r}: this shell command lost its RUN "
                    "keyword, or the line before lost its trailing backslash"
                )
                hint = f"write `RUN {inst.raw_keyword} ...` or continue the previous line with \\"
            else:
                message = f"unknown instruction {inst.raw_keyword!r}"
                hint = "use a Dockerfile instruction (RUN, COPY, ENV, ...)"
            yield self.at(ctx, inst.offset, end, message, fix_hint=hint)
