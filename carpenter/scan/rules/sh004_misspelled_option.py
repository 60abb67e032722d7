"""SH004: a misspelled pip or apt option (the build stops with "no such option")."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.apt import apt_commands
from carpenter.model.pip import pip_installs
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class MisspelledOption(Rule):
    """Flag pip/uv and apt options that are close to, but not, a real option.

    ## What it does
    Compares every option of `pip install`, `uv pip install` and `apt-get`/`apt` with the
    tool's option list (pip's unambiguous prefixes are accepted) and reports unknown options
    that look like a typo of a real one: `--no-cache-dirs`, `--upgarde`, `-yes`.

    ## Why it matters
    pip and apt stop with "no such option" / "Command line option 'e' is not understood",
    usually late in a long build; unknown options that are not near a real one are left
    alone, so newer options do not cause noise.

    ## Example
    ```dockerfile
    RUN apt-get install -yes git && pip install --no-cache-dirs -r requirements.txt
    ```

    ## Fix
    Use the suggested spelling (`-y`, `--no-cache-dir`).

    ```dockerfile
    RUN apt-get install -y git && pip install --no-cache-dir -r requirements.txt
    ```
    """

    id = "SH004"
    name = "misspelled-option"
    category = "shell-bug"
    severity = "error"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for inst in ctx.dockerfile.instructions:
            if inst.keyword != "RUN":
                continue
            for install in pip_installs(inst):
                tool = "uv pip" if install.tool == "uv" else "pip"
                for option in install.unknown_options:
                    if option.suggestion:
                        yield self._finding(ctx, tool, option.word.offset, option.word.end_offset,
                                            option.name, option.suggestion)
            for apt in apt_commands(inst):
                for apt_option in apt.options:
                    if not apt_option.known and apt_option.suggestion:
                        word = apt_option.word
                        yield self._finding(ctx, apt.tool, word.offset, word.end_offset,
                                            apt_option.text, apt_option.suggestion)

    def _finding(self, ctx, tool: str, start: int, end: int, option: str, suggestion: str):
        return self.at(
            ctx, start, end, f"{tool}: unknown option {option} (did you mean {suggestion}?)",
            fix_hint=f"write {suggestion}", option=option, suggestion=suggestion, tool=tool,
        )
